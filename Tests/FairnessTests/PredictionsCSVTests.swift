import Testing
@testable import Fairness

@Suite struct PredictionsCSVTests {
    @Test func rfc4180Quoting() throws {
        let text = "a,b,c\r\n\"x, y\",\"he said \"\"hi\"\"\",\"two\nlines\"\n1,,3\n\n"
        let records = try parseCSV(text, file: "t.csv")
        #expect(records.count == 3)
        #expect(records[1].fields == ["x, y", "he said \"hi\"", "two\nlines"])
        #expect(records[2].line == 4 && records[2].fields == ["1", "", "3"])
        #expect(throws: PredictionsCSVError.self) { try parseCSV("a\n\"open", file: "t.csv") }
        #expect(throws: PredictionsCSVError.self) { try parseCSV("\"a\"b\n", file: "t.csv") }
    }

    @Test func parsesLabelsScoresAndGroups() throws {
        let text = "id,score_b,label,score_a,site\n1,0.2,a,0.8,x\n2,0.6,b,0.4,\"y\"\n"
        let p = try parsePredictions(text: text, file: "p.csv", groupColumns: ["site"])
        #expect(p.classes == ["b", "a"])                       // score-column order
        #expect(p.labels == [1, 0])
        #expect(p.scores.values == [0.2, 0.8, 0.6, 0.4])
        #expect(p.attributes == [AttributeColumn(name: "site", values: ["x", "y"])])
        let q = try parsePredictions(text: text, file: "p.csv", groupColumns: [], classes: ["a", "b"])
        #expect(q.labels == [0, 1] && q.scores.values == [0.8, 0.2, 0.4, 0.6])
    }

    /// A blank attribute cell is a missing value (nil), not a group named "": it is reported under
    /// `missing_attribute` and stays out of the gap.
    @Test func blankAttributeCellIsAMissingValue() throws {
        let text = "label,score_a,score_b,site\na,0.9,0.1,x\nb,0.2,0.8, \nb,0.7,0.3,\n"
        let p = try parsePredictions(text: text, file: "p.csv", groupColumns: ["site"])
        #expect(p.attributes == [AttributeColumn(name: "site", values: ["x", nil, nil])])
        let m = evaluateSplit(labels: p.labels, scores: p.scores, classes: p.classes, attributes: p.attributes)
        #expect(m.byGroup[0].values == ["x"] && m.byGroup[0].missing?.n == 2 && m.byGroup[0].missing?.accuracy == 0.5)
    }

    @Test func errorsNameFileLineAndColumn() {
        func message(_ text: String, groups: [String] = [], classes: [String]? = nil) -> String {
            do { _ = try parsePredictions(text: text, file: "p.csv", groupColumns: groups, classes: classes); return "" }
            catch let e as PredictionsCSVError { return e.message } catch { return "\(error)" }
        }
        let header = "label,score_a,score_b\n"
        #expect(message(header + "a,1,0\nz,0,1\n") == "p.csv: line 3, column 'label': unknown label 'z' (expected one of a, b)")
        #expect(message(header + "a,nan,0\n") == "p.csv: line 2, column 'score_a': 'nan' is not a finite number")
        #expect(message(header + "a,1\n") == "p.csv: line 2: 2 fields (expected 3, as in the header)")
        #expect(message(header) == "p.csv: no data rows after the header (expected one row per example)")
        #expect(message(header + "a,1,0\n", groups: ["sex"]).hasPrefix("p.csv: line 1: missing column 'sex'"))
        #expect(message(header + "a,1,0\n", classes: ["a", "c"]).hasPrefix("p.csv: line 1: missing column 'score_c'"))
        #expect(message("label,score_a\na,1\n").contains("expected at least 2 classes"))
        #expect(message("").hasPrefix("p.csv: empty file"))
    }
}
