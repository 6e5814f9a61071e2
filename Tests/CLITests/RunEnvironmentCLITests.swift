import Datasets
import Foundation
import Tensors
import Testing

/// Runs `mount`/`umount` with `arguments`; true on success.
private func mountCommand(_ tool: String, _ arguments: [String]) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}

/// True when this process may mount file systems (root, in a container that allows it). The tests
/// below need a really full disk and a really read-only store, which only mounts give (as root,
/// permission bits do not stop writes).
private let canMount: Bool = {
    let probe = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-mount-probe-\(UUID().uuidString)")
    guard (try? FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)) != nil else { return false }
    defer { try? FileManager.default.removeItem(at: probe) }
    guard mountCommand("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe.path]) else { return false }
    return mountCommand("umount", [probe.path])
}()

/// A drop of `count` smooth side×side RGB images (they compress to a small archive, but their decoded
/// planes — what the ingest stage stores — take count × side² × 3 bytes at full resolution).
private func writeSmoothDrop(in dir: URL, name: String = "toy", count: Int, side: Int) throws -> String {
    let staging = dir.appendingPathComponent("staging-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: staging.appendingPathComponent("img"), withIntermediateDirectories: true)
    var csv = "path,diagnosis,skin_tone,split\n"
    let splits = ["train", "val", "test_id", "test_ood"]
    for i in 0..<count {
        var image = Tensor(zeros: [3, side, side])
        for c in 0..<3 { for y in 0..<side { for x in 0..<side { image[c, y, x] = Float((x + y + c * 40 + i) % 256) / 255 } } }
        try Data(PNGCodec.encode(image)).write(to: staging.appendingPathComponent("img/\(i).png"))
        csv += "img/\(i).png,\(i % 2 == 0 ? "eczema" : "melanoma"),\(i % 3 == 0 ? "light" : "dark"),\(splits[i % 4])\n"
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
          base_resolution: \(side / 2)
          final_resolution: \(side)

        """
    let path = dir.appendingPathComponent("\(name).yaml")
    try Data(manifest.utf8).write(to: path)
    return path.path
}

/// `fairgen run` when the machine, not the input, is at fault: DESIGN §8 / docs/cli.md exit 3 with
/// the true cause and the path, never "rejected" (1) or "held by another process".
@Suite struct RunEnvironmentCLITests {
    @Test(.enabled(if: canMount, "needs to mount a tmpfs (root)"))
    func fullDiskExitsThreeSayingNoSpaceLeftAndNamingThePath() throws {
        let s = try Scratch()
        defer { s.remove() }
        let drop = s.url.appendingPathComponent("drop")
        try FileManager.default.createDirectory(at: drop, withIntermediateDirectories: true)
        // 96 images of 64×64 (+ 32×32) decode to ~1.4 MiB: the store fits the small archive and
        // run.json, then fills up inside the ingest stage while storing the dataset object.
        _ = try writeSmoothDrop(in: drop, count: 96, side: 64)
        let disk = s.url.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        #expect(mountCommand("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk.path]))
        defer { _ = mountCommand("umount", [disk.path]) }

        let result = try s.run("run", "drop/toy.yaml", "--store", "disk/store", "--profile", "quick")
        #expect(result.status == 3, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("no space left"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(disk.path + "/store/"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("please report"), "stderr: \(result.stderr)")
    }

    @Test(.enabled(if: canMount, "needs a read-only bind mount (root)"))
    func readOnlyStoreExitsThreeSayingReadOnlyNotLocked() throws {
        let s = try Scratch()
        defer { s.remove() }
        let drop = s.url.appendingPathComponent("drop")
        try FileManager.default.createDirectory(at: drop, withIntermediateDirectories: true)
        _ = try writeSmoothDrop(in: drop, count: 4, side: 8)
        let ingest = try s.run("ingest", "drop/toy.yaml", "--store", "store")
        #expect(ingest.status == 0, "stderr: \(ingest.stderr)")
        let readOnly = s.url.appendingPathComponent("store-ro")
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
        #expect(mountCommand("mount", ["--bind", "-o", "ro", s.url.appendingPathComponent("store").path, readOnly.path]))
        defer { _ = mountCommand("umount", [readOnly.path]) }

        let result = try s.run("run", "drop/toy.yaml", "--store", "store-ro", "--profile", "quick")
        #expect(result.status == 3, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("read-only") && result.stderr.contains(readOnly.path + "/locks/"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("another fairgen process") && !result.stderr.contains("held by"), "stderr: \(result.stderr)")

        // Readers still work on a read-only store: the shared lock needs no write access.
        let verify = try s.run("store", "verify", "--store", "store-ro")
        #expect(verify.status == 0, "stderr: \(verify.stderr)")
    }

    /// `run` on a manifest with an `experiment:` block does one plain run; it says so instead of dropping the
    /// sweep silently (here the store path is a file, so the run stops right after the note).
    @Test func runSaysItIgnoresAnExperimentBlock() throws {
        let s = try Scratch()
        defer { s.remove() }
        let drop = s.url.appendingPathComponent("drop")
        try FileManager.default.createDirectory(at: drop, withIntermediateDirectories: true)
        let manifest = try writeSmoothDrop(in: drop, count: 4, side: 8)
        try Data("not a store".utf8).write(to: s.url.appendingPathComponent("file"))
        let plain = try s.run("run", "drop/toy.yaml", "--store", "file", "--profile", "quick")
        #expect(plain.status != 0)
        #expect(!plain.stderr.contains("experiment"), "stderr: \(plain.stderr)")
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        try Data((text + "experiment: {kind: skew, levels: [0, 0.5]}\n").utf8).write(to: URL(fileURLWithPath: manifest))
        let swept = try s.run("run", "drop/toy.yaml", "--store", "file", "--profile", "quick")
        #expect(swept.status != 0)
        #expect(swept.stderr.contains("experiment: block") && swept.stderr.contains("fairgen experiment"), "stderr: \(swept.stderr)")
    }

    @Test func emptyStoreVariableMeansTheDefaultStore() throws {
        let s = try Scratch()
        defer { s.remove() }
        // No ./store: `store ls` must say so about ./store, not list the working directory as a store.
        let result = try s.run("store", "ls", env: ["FAIRGEN_STORE": ""])
        #expect(result.status == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(s.url.standardizedFileURL.path + "/store"), "stderr: \(result.stderr)")
    }
}
