import Datasets
import Foundation
import Tensors
import Testing

/// `fairgen ingest --dry-run MANIFEST [ARCHIVE]` (docs/cli.md).
@Suite struct IngestDryRunCLITests {
    /// docs/examples/radiology.yaml copied into `dir`, and a matching archive at `archive` (relative to `dir`)
    /// with `rows` CSV lines after the header.
    static func drop(in dir: URL, archive: String, rows: [String]) throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/examples/radiology.yaml")
        try FileManager.default.copyItem(at: example, to: dir.appendingPathComponent("radiology.yaml"))
        let path = dir.appendingPathComponent(archive)
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        let tar = try TarWriter(path: path.path, gzip: true)
        let csv = "path,atelectasis,cardiomegaly,consolidation,edema,pleural_effusion,sex,race,split\n" + rows.joined(separator: "\n") + "\n"
        try tar.add("labels.csv", Array(csv.utf8))
        for i in 0..<rows.count {
            let image = Tensor(shape: [1, 5, 5], data: (0..<25).map { Float(($0 * 9 + i * 31) % 256) / 255 })
            try tar.add("xr/\(i).png", try PNGCodec.encode(image))
        }
        try tar.close()
    }

    static let rows = [
        "xr/0.png,1,,0,-1,,F,White,train",
        "xr/1.png,,1,,,0,M,Asian,train",
        "xr/2.png,-1,0,1,,,F,Black,val",
        "xr/3.png,0,0,0,0,1,M,,test_id",
        "xr/4.png,,,,,,F,White,test_ood",
    ]

    @Test func dryRunPrintsASummaryAndWritesNothing() throws {
        let s = try Scratch()
        defer { s.remove() }
        // The archive is named on the command line, away from the manifest.
        try Self.drop(in: s.url, archive: "elsewhere/cxr.tar.gz", rows: Self.rows)
        let r = try s.run("ingest", "--dry-run", "radiology.yaml", "elsewhere/cxr.tar.gz")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("dataset: chexpert-example (radiology) — valid, nothing written"), "\(r.stdout)")
        #expect(r.stdout.contains("labels: multi, 5 classes: atelectasis, cardiomegaly, consolidation, edema, pleural_effusion; blank cell = negative, 2 uncertain (-1) entries"))
        #expect(r.stdout.contains("rows: 5 — train 2 (2 labeled), val 1 (1 labeled), test_id 1 (1 labeled), test_ood 1 (1 labeled)"))
        #expect(r.stdout.contains("attribute sex: 2 values: F, M") && r.stdout.contains("attribute race: 3 values: Asian, Black, White"))
        #expect(r.stdout.contains("images: gray, at 64×64 and 224×224"))
        #expect(!FileManager.default.fileExists(atPath: s.url.appendingPathComponent("store").path), "no store created")
    }

    @Test func dryRunRefusesWithTheIngestErrorAndExitsOne() throws {
        let s = try Scratch()
        defer { s.remove() }
        var rows = Self.rows
        rows[2] = "xr/2.png,-1,0,2,,,F,Black,val"
        try Self.drop(in: s.url, archive: "chexpert-example.tar.gz", rows: rows)
        let r = try s.run("ingest", "--dry-run", "radiology.yaml")
        #expect(r.status == 1)
        #expect(r.stderr.contains("labels.csv row 4, column \"consolidation\": found \"2\", expected 0, 1, -1 for uncertain, or blank for 0"), "\(r.stderr)")
        #expect(r.stdout.isEmpty && !FileManager.default.fileExists(atPath: s.url.appendingPathComponent("store").path))
        // An archive argument without --dry-run is a usage error.
        #expect(try s.run("ingest", "radiology.yaml", "chexpert-example.tar.gz").status == 2)
    }
}
