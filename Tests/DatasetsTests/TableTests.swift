import Foundation
import Testing
@testable import Datasets

private func manifest(_ label: LabelSpec, attributes: [String] = ["sex"], domain: String? = nil) -> Manifest {
    Manifest(name: "t", archive: "t.tar.gz", modality: .generic, table: "meta.csv", imageColumn: "path", label: label,
             attributes: attributes, domainColumn: domain, splitColumn: "split")
}

private func tableError(_ csv: String, _ m: Manifest) -> DatasetError? {
    do { _ = try DatasetTable.parse(Array(csv.utf8), manifest: m, file: "drop.tar.gz"); return nil } catch let e as DatasetError {
        return e
    } catch { return nil }
}

@Suite struct TableTests {
    let single = manifest(LabelSpec(kind: .single, column: "dx", classes: ["a", "b", "c"]))

    @Test func singleLabelsAttributesAndSplits() throws {
        let csv = "path,dx,sex,split\n./x/1.png,b,F,train\nx/2.png,,M,unlabeled\nx/3.png,c,,test_ood\n\n"
        let t = try DatasetTable.parse(Array(csv.utf8), manifest: single, file: "d")
        #expect(t.rows.map(\.path) == ["x/1.png", "x/2.png", "x/3.png"])
        #expect(t.rows[0].label == [0, 1, 0] && t.rows[0].labelMask == [1, 1, 1] && t.rows[0].isLabeled)
        #expect(t.rows[1].label == [0, 0, 0] && t.rows[1].labelMask == [0, 0, 0] && !t.rows[1].isLabeled)
        #expect(t.attributeValues == [["F", "M"]] && t.rows.map(\.attributes) == [[0], [1], [-1]])
        #expect(t.rows.map(\.split) == [.train, .unlabeled, .testOOD])
        #expect(t.rows.allSatisfy { $0.domain == -1 } && t.domainValues == [])
    }

    @Test func raggedRowsNameRowAndColumnCount() {
        let e = tableError("path,dx,sex,split\nx/1.png,a,F,train\nx/2.png,a,train\n", single)
        #expect(e?.code == .raggedRow && e?.row == 3)
        #expect(e?.description == "drop.tar.gz: meta.csv row 3: found 3 columns, expected 4 columns, as in the header")
        #expect(tableError("path,dx,sex,split\nx/1.png,a,F,train,extra\n", single)?.row == 2)
    }

    @Test func labelsOutsideClasses() {
        let e = tableError("path,dx,sex,split\nx/1.png,a,F,train\nx/2.png,zebra,F,val\n", single)
        #expect(e?.code == .labelOutsideClasses && e?.row == 3 && e?.column == "dx")
        #expect(e?.description == "drop.tar.gz: meta.csv row 3, column \"dx\": found \"zebra\", expected one of label.classes (a, b, c)")
    }

    @Test func badCellsAndMissingColumns() {
        #expect(tableError("path,dx,sex,split\nx/1.png,a,F,training\n", single)?.column == "split")
        let missing = tableError("path,diagnosis,sex,split\nx/1.png,a,F,train\n", single)
        #expect(missing?.code == .missingColumn && missing?.row == 1 && missing?.column == "dx")
        #expect(tableError("path,dx,sex,split\n../1.png,a,F,train\n", single)?.code == .invalidCell)
        #expect(tableError("path,dx,sex,split\nx/1.jpg,a,F,train\n", single)?.code == .invalidCell)
        let dup = tableError("path,dx,sex,split\nx/1.png,a,F,train\nx/1.png,b,F,val\n", single)
        #expect(dup?.code == .invalidCell && dup?.description.contains("already used in row 2") == true)
    }

    @Test func multiLabelWithUncertainty() throws {
        let m = manifest(LabelSpec(kind: .multi, columns: ["atel", "card"], classes: ["atel", "card"]), attributes: ["sex", "race"])
        let t = try DatasetTable.parse(Array("path,atel,card,sex,race,split\nx/1.png,1,0,F,w,train\nx/2.png,-1,,M,b,val\nx/3.png,0,1.0,M,,test_id\n".utf8),
                                       manifest: m, file: "d")
        // -1 is uncertain: 0.5 (the generator's conditioning) under mask 0; blank is unknown outside radiology.
        #expect(t.rows.map(\.label) == [[1, 0], [0.5, 0], [0, 1]])
        #expect(t.rows.map(\.labelMask) == [[1, 1], [0, 0], [1, 1]])
        #expect(t.attributeValues == [["F", "M"], ["b", "w"]])
        let bad = tableError("path,atel,card,sex,race,split\nx/1.png,2,0,F,w,train\n", m)
        #expect(bad?.code == .invalidCell && bad?.column == "atel" && bad?.row == 2)
    }

    @Test func softLabelsAreNormalisedPerRow() throws {
        let m = manifest(LabelSpec(kind: .soft, columns: ["p", "q", "r"], classes: ["p", "q", "r"]), domain: "site")
        let t = try DatasetTable.parse(Array("path,p,q,r,sex,site,split\nx/1.png,1,3,0,F,h2,train\nx/2.png,,,,F,h1,unlabeled\n".utf8),
                                       manifest: m, file: "d")
        #expect(t.rows[0].label == [0.25, 0.75, 0] && t.rows[1].labelMask == [0, 0, 0])
        #expect(t.domainValues == ["h1", "h2"] && t.rows.map(\.domain) == [1, 0])
        #expect(tableError("path,p,q,r,sex,site,split\nx/1.png,1,-3,0,F,h,train\n", m)?.column == "q")
        #expect(tableError("path,p,q,r,sex,site,split\nx/1.png,0,0,0,F,h,train\n", m)?.code == .invalidCell)
    }

    @Test func raterAggregationMatchesThePaperExample() throws {
        let v = aggregateRaterLabels([[("A", 4), ("B", 3)], [("A", 3), ("D", 4)]], classes: ["A", "B", "C", "D"])
        #expect(abs(v[0] - 0.5) < 1e-6 && abs(v[1] - 1.0 / 6) < 1e-6 && v[2] == 0 && abs(v[3] - 1.0 / 3) < 1e-6)
        // The same through the table, with an abstaining third rater.
        let m = manifest(LabelSpec(kind: .soft, raterColumns: ["r1", "r2", "r3"], classes: ["A", "B", "C", "D"]))
        let t = try DatasetTable.parse(Array("path,r1,r2,r3,sex,split\nx/1.png,A:4;B:3,A:3;D:4,,F,train\n".utf8), manifest: m, file: "d")
        #expect(t.rows[0].label.map { ($0 * 1000).rounded() / 1000 } == [0.5, 0.167, 0, 0.333])
        let e = tableError("path,r1,r2,r3,sex,split\nx/1.png,A:4;E:3,,,F,train\n", m)
        #expect(e?.code == .labelOutsideClasses && e?.column == "r1")
        #expect(tableError("path,r1,r2,r3,sex,split\nx/1.png,A:high,,,F,train\n", m)?.code == .invalidCell)
        // Ties share the better rank: {(A,2),(B,2),(C,1)} → A 1, B 1, C 1/3.
        let tie = aggregateRaterLabels([[("A", 2), ("B", 2), ("C", 1)]], classes: ["A", "B", "C"])
        #expect(abs(tie[0] - 3.0 / 7) < 1e-6 && abs(tie[2] - 1.0 / 7) < 1e-6)
    }
}
