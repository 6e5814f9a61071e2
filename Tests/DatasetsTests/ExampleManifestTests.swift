import Foundation
import Tensors
import Testing
@testable import Datasets

/// The example manifests under `docs/examples/`, one per modality of the paper.
let exampleDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("docs/examples")

/// Writes `docs/examples/<example>.yaml` into a fresh folder beside a small archive that matches it: `rows`
/// rows cycling through every split, tiny PNGs (gray for radiology), label cells of every form the kind
/// allows (multi: 1, 0, blank, -1; soft: one to three raters with ranked conditions; single: blank on the
/// unlabeled rows), attribute cells with a blank now and then. Returns the manifest's path.
func writeExampleDrop(_ example: String, rows: Int = 14, corruptPNG: Int? = nil) throws -> String {
    let dir = DropBuilder.tempDir()
    let text = try String(contentsOf: exampleDirectory.appendingPathComponent(example + ".yaml"), encoding: .utf8)
    let manifestPath = dir + "/" + example + ".yaml"
    try text.write(toFile: manifestPath, atomically: true, encoding: .utf8)
    let m = try Manifest.parse(text: text, file: manifestPath)

    let splits = ["train", "train", "train", "val", "test_id", "test_ood", "unlabeled"]
    let labelColumns = m.label.column.map { [$0] } ?? m.label.columns ?? m.label.raterColumns ?? []
    var header = [m.imageColumn] + labelColumns + m.attributes
    if let d = m.domainColumn { header.append(d) }
    if let s = m.splitColumn { header.append(s) }
    var csv = header.joined(separator: ",") + "\n"
    let k = m.label.classes.count
    var pngs: [(String, [UInt8])] = []
    for i in 0..<rows {
        let split = splits[i % splits.count]
        let path = "images/\(i).png"
        var cells = [path]
        switch m.label.kind {
        case .single:
            cells.append(split == "unlabeled" ? "" : m.label.classes[i % k])
        case .multi:
            cells += (0..<k).map { j in split == "unlabeled" ? "" : ["1", "0", "", "-1"][(i + j) % 4] }
        case .soft:
            cells += (0..<labelColumns.count).map { r in
                split == "unlabeled" || (r > 0 && (i + r) % 3 == 0) ? ""
                    : "\(m.label.classes[(i + r) % k]):4;\(m.label.classes[(i + 2 * r + 1) % k]):\(2 + r % 2)"
            }
        }
        for a in m.attributes {
            let values: [String]
            switch a {
            case "sex": values = ["F", "M"]
            case "race": values = ["White", "Black", "Asian", "Other"]
            case "age_group": values = ["18-29", "30-44", "45-64", "65+"]
            case "skin_tone": values = ["1", "2", "3", "4", "5", "6"]
            default: values = ["x", "y"]
            }
            cells.append(i % 5 == 4 ? "" : values[i % values.count])
        }
        if m.domainColumn != nil { cells.append(split == "test_ood" ? "site-\(4 + i % 2)" : "site-\(1 + i % 3)") }
        if m.splitColumn != nil { cells.append(split) }
        csv += cells.joined(separator: ",") + "\n"
        let channels = m.modality == .radiology ? 1 : 3
        var image = Tensor(zeros: [channels, 6, 6])
        for v in 0..<image.count { image.data[v] = Float((v * 37 + i * 11) % 256) / 255 }
        var png = try PNGCodec.encode(image)
        if i == corruptPNG { png = Array(png.prefix(png.count - 20)) }
        pngs.append((path, png))
    }
    // The table first, as docs/manifest.md recommends (decoding then overlaps reading).
    let tar = try TarWriter(path: dir + "/" + m.archive, gzip: m.archive.hasSuffix(".gz"))
    try tar.add(m.table, Array(csv.utf8))
    for (name, bytes) in pngs { try tar.add(name, bytes) }
    try tar.close()
    return manifestPath
}

@Suite struct ExampleManifestTests {
    /// Each example validates with `ingest --dry-run`'s library function against a matching archive, and the
    /// summary reports what the paper's setting has.
    @Test(arguments: ["histopathology", "radiology", "dermatology"])
    func exampleValidatesWithDryRun(example: String) throws {
        let expected: (classes: Int, resolutions: [Int], attributes: [String]) = switch example {
        case "histopathology": (2, [96], [])
        case "radiology": (5, [64, 224], ["sex", "race"])
        default: (27, [64, 256], ["sex", "age_group", "skin_tone"])
        }
        let (classes, resolutions, attributes) = expected
        let path = try writeExampleDrop(example)
        let dir = (path as NSString).deletingLastPathComponent
        let before = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        let summary = try ingestDryRun(manifestPath: path)
        #expect(summary.classes.count == classes && summary.resolutions == resolutions)
        // (The histopathology example's hospital is its domain column, not an attribute.)
        #expect(summary.attributes.map(\.name) == attributes)
        #expect(summary.splits.map(\.split) == Split.allCases)
        #expect(summary.splits.reduce(0) { $0 + $1.rows } == 14)
        #expect(summary.splits.first { $0.split == .unlabeled }?.labeled == 0)
        #expect(summary.channels == (example == "radiology" ? 1 : 3))
        switch example {
        case "radiology":
            #expect(summary.blankCells == .negative && summary.uncertainEntries > 0)
        case "histopathology":
            #expect(summary.domains.contains("site-4") && summary.domains.contains("site-5"))
        default:
            #expect(summary.blankCells == nil)
        }
        #expect(summary.lines.first?.contains("valid, nothing written") == true)
        // Nothing was written beside the drop.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == before)
    }

    /// The dry run makes ingest's checks, down to decoding every PNG: a truncated image is refused, naming it.
    @Test func dryRunRefusesWhatIngestRefuses() throws {
        let path = try writeExampleDrop("dermatology", corruptPNG: 3)
        do {
            _ = try ingestDryRun(manifestPath: path)
            Issue.record("a truncated PNG passed the dry run")
        } catch let e as DatasetError {
            #expect(e.description.contains("images/3.png"), "\(e)")
        }
        // An explicit archive path (the CLI's second argument) is checked instead of the one beside it.
        let good = try writeExampleDrop("dermatology")
        let goodArchive = (good as NSString).deletingLastPathComponent + "/derm-example.tar.gz"
        #expect(try ingestDryRun(manifestPath: path, archivePath: goodArchive).classes.count == 27)
        #expect(throws: DatasetError.self) { try ingestDryRun(manifestPath: good, archivePath: goodArchive + ".missing") }
    }
}
