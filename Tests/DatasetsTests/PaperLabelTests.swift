import Foundation
import Testing
@testable import Datasets

/// Issue 13, "labels and resolutions as the paper defines them" (docs/manifest.md).
@Suite struct PaperLabelTests {
    static func multiManifest(modality: String, blank: String? = nil) -> String {
        """
        name: cxr
        archive: cxr.tar.gz
        modality: \(modality)
        table: labels.csv
        image_column: path
        label:
          kind: multi
          columns: [atelectasis, edema]
        \(blank.map { "  blank: \($0)\n" } ?? "")attributes: [sex]

        """
    }

    /// Row 2: blank / 1; row 3: -1 / 0; row 4: blank / -1.
    static let csv = Array("path,atelectasis,edema,sex\na.png,,1,F\nb.png,-1,0,M\nc.png,,-1,\n".utf8)

    static func table(_ manifest: String) throws -> DatasetTable {
        let m = try Manifest.parse(text: manifest, file: "cxr.yaml")
        return try DatasetTable.parse(csv, manifest: m, file: "cxr.tar.gz")
    }

    /// CheXpert: an unmentioned (blank) finding is negative — a known 0 — for radiology; `-1` is uncertain:
    /// masked for the classifier, but stored as 0.5 for the generator to condition on.
    @Test func radiologyBlankCellsAreNegativeAndUncertainIsMasked() throws {
        let t = try Self.table(Self.multiManifest(modality: "radiology"))
        #expect(t.rows[0].label == [0, 1] && t.rows[0].labelMask == [1, 1], "blank atelectasis = absent, known")
        #expect(t.rows[1].label == [0.5, 0] && t.rows[1].labelMask == [0, 1], "-1 = uncertain: 0.5 under mask 0")
        #expect(t.rows[2].label == [0, 0.5] && t.rows[2].labelMask == [1, 0])
        #expect(t.rows.allSatisfy { $0.isLabeled })
        let m = try Manifest.parse(text: Self.multiManifest(modality: "radiology"), file: "cxr.yaml")
        #expect(m.label.blank == nil && m.blankCells == .negative)
        // Rows of the `unlabeled` split carry no findings: their blank cells stay unknown.
        var split = m
        split.splitColumn = "split"
        let rows = try DatasetTable.parse(Array("path,atelectasis,edema,sex,split\na.png,,,F,train\nb.png,,,M,unlabeled\n".utf8),
                                          manifest: split, file: "cxr.tar.gz").rows
        #expect(rows[0].labelMask == [1, 1] && rows[0].isLabeled)
        #expect(rows[1].labelMask == [0, 0] && !rows[1].isLabeled)
    }

    /// Every other modality keeps the earlier meaning (blank = unknown), and the key overrides the default
    /// both ways.
    @Test func blankMeaningIsAManifestKeyWithModalityDefaults() throws {
        for modality in ["dermatology", "histopathology", "generic"] {
            let t = try Self.table(Self.multiManifest(modality: modality))
            #expect(t.rows[0].label == [0, 1] && t.rows[0].labelMask == [0, 1], "\(modality): blank = unknown")
            #expect(t.rows[2].labelMask == [0, 0] && !t.rows[2].isLabeled)
            #expect(t.rows[1].label == [0.5, 0] && t.rows[1].labelMask == [0, 1], "-1 is uncertain everywhere")
        }
        let unknown = try Self.table(Self.multiManifest(modality: "radiology", blank: "unknown"))
        #expect(unknown.rows[0].labelMask == [0, 1])
        let negative = try Self.table(Self.multiManifest(modality: "generic", blank: "negative"))
        #expect(negative.rows[0].labelMask == [1, 1] && negative.rows[2].labelMask == [1, 0])
        // Not a known meaning; not a key of the other label kinds (it would be ignored there).
        let bad = manifestError(Self.multiManifest(modality: "radiology", blank: "maybe"))
        #expect(bad?.code == .invalidValue && bad?.location == "label.blank" && bad?.expected == "one of negative, unknown")
        let single = manifestError("""
            name: x
            archive: x.tar
            modality: radiology
            table: t.csv
            image_column: path
            label: {kind: single, column: dx, classes: [a, b], blank: negative}
            """)
        #expect(single?.code == .unknownKey && single?.location == "label.blank")
    }

    /// The stored (compact) row keeps the uncertain value under its mask, so the dataset object carries it
    /// to the generator.
    @Test func uncertainValueSurvivesTheCompactRowEncoding() throws {
        let t = try Self.table(Self.multiManifest(modality: "radiology"))
        let back = try JSONDecoder().decode(DatasetTable.self, from: JSONEncoder().encode(t))
        #expect(back == t)
        #expect(back.rows[1].label == [0.5, 0] && back.rows[1].labelMask == [0, 1])
    }

    /// 64 → 224 (the paper's radiology cascade, factor 3.5) and other non-integer factors validate; a final
    /// resolution below the base still does not.
    @Test func finalResolutionNeedNotBeAMultipleOfTheBase() throws {
        func pipeline(_ base: Int, _ final: Int) -> String {
            Self.multiManifest(modality: "radiology") + "pipeline:\n  base_resolution: \(base)\n  final_resolution: \(final)\n"
        }
        let m = try Manifest.parse(text: pipeline(64, 224), file: "cxr.yaml")
        #expect(m.resolutions == [64, 224])
        #expect(try Manifest.parse(text: pipeline(32, 48), file: "cxr.yaml").resolutions == [32, 48])
        #expect(try Manifest.parse(text: pipeline(8, 12), file: "cxr.yaml").resolutions == [8, 12])
        let e = manifestError(pipeline(64, 32))
        #expect(e?.location == "pipeline.final_resolution" && e?.expected == "a resolution ≥ base_resolution")
    }

    /// `pipeline.ddpm.hflip` is a boolean key.
    @Test func hflipKeyParses() throws {
        let text = Self.multiManifest(modality: "dermatology") + "pipeline:\n  ddpm: {hflip: false}\n"
        #expect(try Manifest.parse(text: text, file: "x.yaml").pipeline.ddpm?.hflip == false)
        let e = manifestError(text.replacingOccurrences(of: "hflip: false", with: "hflip: sometimes"))
        #expect(e?.location == "pipeline.ddpm.hflip" && e?.expected == "true or false")
    }
}
