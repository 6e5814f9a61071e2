import Datasets
import Foundation
import Store
import Tensors
import Testing

/// Writes a small drop into `dir`: `toy.yaml` + `toy.tar.gz` (4 RGB 8×8 PNGs and metadata.csv),
/// archived with the system `tar`. `label` lets a test put a class outside `classes`.
private func writeDrop(in dir: URL, name: String = "toy", lastLabel: String = "melanoma") throws -> String {
    let staging = dir.appendingPathComponent("staging-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: staging.appendingPathComponent("img"), withIntermediateDirectories: true)
    var csv = "path,diagnosis,skin_tone,split\n"
    let splits = ["train", "val", "test_id", "test_ood"]
    for i in 0..<4 {
        var image = Tensor(zeros: [3, 8, 8])
        for c in 0..<3 { for y in 0..<8 { for x in 0..<8 { image[c, y, x] = Float((x * 29 + y * 7 + c * 61 + i * 13) % 256) / 255 } } }
        try Data(PNGCodec.encode(image)).write(to: staging.appendingPathComponent("img/\(i).png"))
        let label = i == 3 ? lastLabel : (i % 2 == 0 ? "eczema" : "melanoma")
        csv += "img/\(i).png,\(label),\(i % 2 == 0 ? "light" : "dark"),\(splits[i])\n"
    }
    try Data(csv.utf8).write(to: staging.appendingPathComponent("metadata.csv"))
    let tar = Process()
    tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    tar.arguments = ["tar", "-czf", dir.appendingPathComponent("\(name).tar.gz").path, "-C", staging.path, "metadata.csv", "img"]
    try tar.run()
    tar.waitUntilExit()
    #expect(tar.terminationStatus == 0)
    try FileManager.default.removeItem(at: staging)
    let manifest = """
        name: \(name)
        archive: \(name).tar.gz
        modality: dermatology
        table: metadata.csv
        image_column: path
        label:
          kind: single
          column: diagnosis
          classes: [eczema, melanoma]
        attributes: [skin_tone]
        split_column: split
        high_risk: [melanoma]
        pipeline:
          base_resolution: 4
          final_resolution: 8

        """
    let path = dir.appendingPathComponent("\(name).yaml")
    try Data(manifest.utf8).write(to: path)
    return path.path
}

@Suite struct IngestCLITests {
    @Test func ingestTwiceGivesTheSameObjectAndNoNewFile() throws {
        let s = try Scratch()
        defer { s.remove() }
        let inbox = s.url.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        _ = try writeDrop(in: inbox)
        let first = try s.run("ingest", "inbox/toy.yaml")
        #expect(first.status == 0, "\(first.stderr)")
        let id = first.stdout.trimmingCharacters(in: .newlines)
        #expect(ObjectID(id)?.hex == id)
        #expect(s.files(under: "store/objects").count == 1)
        #expect(s.files(under: "store/keys/ingest").count == 1)
        #expect(s.files(under: "store/tmp").isEmpty)

        // The object is a dataset object holding both resolutions.
        let store = try Store.open(at: s.url.appendingPathComponent("store"), create: false)
        let dataset = try IngestedDataset.decode(store.objects.read(ObjectID(id)!))
        #expect(dataset.table.rows.count == 4)
        #expect(dataset.images(at: 4)?.count == 4 && dataset.images(at: 8)?.count == 4)

        let objectFile = store.objects.path(for: ObjectID(id)!).path
        let before = try FileManager.default.attributesOfItem(atPath: objectFile)[.modificationDate] as? Date
        let second = try s.run("ingest", "inbox/toy.yaml", "--store", "store")
        #expect(second.status == 0)
        #expect(second.stdout == first.stdout)
        #expect(s.files(under: "store/objects").count == 1)
        #expect(s.files(under: "store/tmp").isEmpty)
        #expect(try FileManager.default.attributesOfItem(atPath: objectFile)[.modificationDate] as? Date == before)
        #expect(try s.run("store", "verify").status == 0)
        // gc keeps it: the ingest key references it.
        #expect(try s.run("store", "gc").stdout.contains("removed 0 objects"))
    }

    @Test func badDropIsRejectedAndLeavesNothing() throws {
        let s = try Scratch()
        defer { s.remove() }
        _ = try writeDrop(in: s.url, lastLabel: "psoriasis")
        let result = try s.run("ingest", "toy.yaml", "--store", "store")
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("toy.tar.gz") && result.stderr.contains("psoriasis"))
        #expect(s.files(under: "store/objects").isEmpty)
        #expect(s.files(under: "store/tmp").isEmpty)
        #expect(s.files(under: "store/keys").isEmpty)
    }

    @Test func manifestErrorsAndEscapingArchivesAreRejected() throws {
        let s = try Scratch()
        defer { s.remove() }
        let inbox = s.url.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        _ = try writeDrop(in: s.url)  // toy.tar.gz outside inbox/
        let manifest = try String(contentsOfFile: s.path + "/toy.yaml", encoding: .utf8)
        try Data(manifest.replacingOccurrences(of: "archive: toy.tar.gz", with: "archive: ../toy.tar.gz").utf8)
            .write(to: inbox.appendingPathComponent("escape.yaml"))
        let escape = try s.run("ingest", "inbox/escape.yaml")
        #expect(escape.status == 1)
        #expect(escape.stderr.contains("inbox/escape.yaml") && escape.stderr.contains("archive"))
        #expect(escape.stderr.split(separator: "\n").count == 1)

        try Data((manifest + "colour: blue\n").utf8).write(to: inbox.appendingPathComponent("typo.yaml"))
        let typo = try s.run("ingest", "inbox/typo.yaml")
        #expect(typo.status == 1)
        #expect(typo.stderr.contains("colour"))
        #expect(try s.run("ingest", "inbox/missing.yaml").status == 1)
        #expect(s.files(under: "store/objects").isEmpty)
    }

    @Test func ingestFailsNamingTheLockHolder() throws {
        let s = try Scratch()
        defer { s.remove() }
        _ = try writeDrop(in: s.url)
        let store = try Store.open(at: s.url.appendingPathComponent("store"), create: true)
        let lock = try store.lockStore(.exclusive)
        let result = try s.run("ingest", "toy.yaml")
        lock.unlock()
        #expect(result.status == 1)
        #expect(result.stderr.contains("locks/store.lock") && result.stderr.contains("PID \(getpid())"))
        #expect(s.files(under: "store/objects").isEmpty)
    }
}

/// Issue 12: re-ingesting used to print the cached id after only checking that the object existed.
@Suite struct IngestIntegrityCLITests {
    @Test func reingestAfterAFlippedByteReplacesTheObject() throws {
        let s = try Scratch()
        defer { s.remove() }
        let inbox = s.url.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        _ = try writeDrop(in: inbox)
        let first = try s.run("ingest", "inbox/toy.yaml")
        #expect(first.status == 0, "\(first.stderr)")
        let id = try #require(ObjectID(first.stdout.trimmingCharacters(in: .newlines)))
        let store = try Store.open(at: s.url.appendingPathComponent("store"), create: false)
        let file = store.objects.path(for: id).path
        chmod(file, 0o644)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        try handle.seek(toOffset: 100)
        let byte = try #require(try handle.read(upToCount: 1)).first! ^ 0x10
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data([byte]))
        try handle.close()
        #expect(try s.run("store", "verify").status == 1)

        let again = try s.run("ingest", "inbox/toy.yaml")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout == first.stdout)
        #expect(again.stderr.contains("\(id.hex) for this drop is corrupt; ingesting again"), "\(again.stderr)")
        #expect(store.objects.isIntact(id))
        #expect(try s.run("store", "verify").status == 0)
    }
}
