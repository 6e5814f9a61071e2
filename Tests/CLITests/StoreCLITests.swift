import Foundation
import Store
import Testing

/// A scratch folder holding `store/` with two runs of one dataset, one keyed object and one orphan.
private struct PopulatedStore {
    let scratch: Scratch
    let store: Store
    let checkpoint: ObjectID, keyed: ObjectID, orphan: ObjectID

    init() throws {
        scratch = try Scratch()
        store = try Store.open(at: scratch.url.appendingPathComponent("store"), create: true)
        keyed = try store.objects.put(Array("dataset object".utf8))
        try store.record(stage: "ingest", key: StageKey.compute(stage: "ingest", codeVersion: "t", config: .null, inputs: ["x"]), object: keyed)
        let first = try store.createRun(dataset: "derm-demo", codeVersion: "test-1")
        try first.fail("out of memory in train-ddpm")
        let run = try store.createRun(dataset: "derm-demo", codeVersion: "test-2")
        checkpoint = try store.objects.put(Array("checkpoint bytes\n".utf8))
        let key = try StageKey.compute(stage: "train-ddpm", codeVersion: "1", config: .null, inputs: [keyed.hex])
        try run.stageStarted("train-ddpm", key: key, inputs: [keyed.hex])
        try run.stageFinished("train-ddpm", outputs: ["checkpoint": checkpoint], status: .complete, wallSeconds: 12.5)
        try run.link(checkpoint, as: "checkpoints/ddpm.safetensors")
        try run.put(Array(#"{"schema":1,"selected_alpha":0.5}"#.utf8), as: "metrics.json")
        try run.complete()
        orphan = try store.objects.put(Array("orphan".utf8))
    }
}

@Suite struct GlobalCLITests {
    @Test func usageErrorsExit2AndHelpExits0() throws {
        let s = try Scratch()
        defer { s.remove() }
        let bogus = try s.run("store", "frobnicate")
        #expect(bogus.status == 2)
        #expect(bogus.stderr.contains("frobnicate"))
        #expect(try s.run("store", "show").status == 2)  // missing argument
        #expect(try s.run("store", "ls", "--no-such-flag").status == 2)
        let help = try s.run("store", "--help")
        #expect(help.status == 0)
        #expect(help.stdout.contains("verify"))
    }

    @Test func missingStoreIsRejectedNamingIt() throws {
        let s = try Scratch()
        defer { s.remove() }
        let result = try s.run("store", "ls", "--store", "nowhere")
        #expect(result.status == 1)
        #expect(result.stderr.contains(s.path + "/nowhere"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: s.path + "/nowhere"), "readers must not create a store")
    }
}

@Suite struct StoreCLITests {
    @Test func lsListsVersionsStatusAndAlpha() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        // Default location ./store relative to the working directory.
        let result = try p.scratch.run("store", "ls")
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("DATASET"))
        #expect(lines[1].contains("derm-demo") && lines[1].contains("v0001") && lines[1].contains("failed"))
        #expect(lines[2].contains("v0002 (latest)") && lines[2].contains("complete") && lines[2].hasSuffix("0.50"))
        // FAIRGEN_STORE is honoured, and --store wins over it.
        let elsewhere = try Scratch()
        defer { elsewhere.remove() }
        #expect(try elsewhere.run("store", "ls", env: ["FAIRGEN_STORE": p.store.root.path]).stdout == result.stdout)
        #expect(try elsewhere.run("store", "ls", "--store", p.store.root.path, env: ["FAIRGEN_STORE": "/nonexistent"]).status == 0)
    }

    @Test func showSummarisesStages() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        let latest = try p.scratch.run("store", "show", "derm-demo")
        #expect(latest.status == 0, "\(latest.stderr)")
        #expect(latest.stdout.hasPrefix("derm-demo/v0002  complete"))
        let stageLine = latest.stdout.split(separator: "\n").first { $0.hasPrefix("train-ddpm") }
        #expect(stageLine?.contains("complete") == true)
        #expect(stageLine?.contains("12.5") == true)
        #expect(stageLine?.contains("checkpoint=" + p.checkpoint.hex.prefix(12)) == true)
        #expect(latest.stdout.contains("checkpoints/ddpm.safetensors  " + p.checkpoint.hex))
        let first = try p.scratch.run("store", "show", "derm-demo/v1")
        #expect(first.stdout.contains("derm-demo/v0001  failed"))
        #expect(first.stdout.contains("error     out of memory in train-ddpm"))
        let missing = try p.scratch.run("store", "show", "derm-demo/v7")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("derm-demo/v0007 not found"))
        #expect(try p.scratch.run("store", "show", "nope").status == 1)
        #expect(try p.scratch.run("store", "show", "../etc").status == 1)
    }

    @Test func catWritesRawBytes() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        let byID = try p.scratch.run("store", "cat", p.checkpoint.hex)
        #expect(byID.status == 0)
        #expect(byID.stdoutBytes == Data("checkpoint bytes\n".utf8))
        let byPath = try p.scratch.run("store", "cat", "derm-demo/v2/checkpoints/ddpm.safetensors")
        #expect(byPath.stdoutBytes == Data("checkpoint bytes\n".utf8))
        let runJSON = try p.scratch.run("store", "cat", "derm-demo/latest/run.json")
        #expect(runJSON.stdout.contains("\"code_version\" : \"test-2\""))
        for bad in ["derm-demo/v2/../../../objects", "derm-demo/v2/nothing.bin", String(repeating: "0", count: 64), "derm-demo"] {
            let result = try p.scratch.run("store", "cat", bad)
            #expect(result.status == 1, "\(bad)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.split(separator: "\n").count == 1, "\(bad): \(result.stderr)")
        }
    }

    @Test func verifyPassesThenFailsNamingTheFlippedObject() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        let clean = try p.scratch.run("store", "verify")
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stdout.hasPrefix("ok: 4 objects"))
        let file = p.store.objects.path(for: p.checkpoint).path
        chmod(file, 0o644)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[4] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: file))
        let broken = try p.scratch.run("store", "verify")
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("object \(p.checkpoint.hex): content hash is"))
    }

    @Test func gcRemovesOnlyTheOrphan() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        let dry = try p.scratch.run("store", "gc", "--dry-run")
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("would remove object \(p.orphan.hex)"))
        #expect(p.store.objects.exists(p.orphan))
        let real = try p.scratch.run("store", "gc")
        #expect(real.status == 0)
        #expect(real.stdout.contains("removed 1 objects"))
        #expect(!p.store.objects.exists(p.orphan))
        #expect(p.store.objects.exists(p.checkpoint) && p.store.objects.exists(p.keyed))
        #expect(try p.scratch.run("store", "verify").status == 0)
    }

    @Test func secondWriterFailsNamingTheLockHolder() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        let lock = try p.store.lockStore(.exclusive)  // held by this test process
        let result = try p.scratch.run("store", "gc")
        lock.unlock()
        #expect(result.status == 1)
        #expect(result.stderr.contains(p.store.storeLockPath))
        #expect(result.stderr.contains("PID \(getpid())"))
        #expect(p.store.objects.exists(p.orphan), "a refused gc must not delete anything")
        #expect(try p.scratch.run("store", "gc").status == 0)
    }
}

/// Flips one bit of a file in place (same inode: hard links in run folders see it too).
private func flipInPlace(_ path: String, at offset: UInt64) throws {
    chmod(path, 0o644)
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    let byte = try handle.read(upToCount: 1)!.first! ^ 0x01
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: Data([byte]))
}

/// Issue 12: `store verify --repair`, and verification of a store the process cannot write.
@Suite struct StoreIntegrityCLITests {
    @Test func verifyRepairRemovesCorruptObjectsAndRelinksOnceRecomputed() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        try flipInPlace(p.store.objects.path(for: p.checkpoint).path, at: 2)
        let repaired = try p.scratch.run("store", "verify", "--repair")
        #expect(repaired.status == 1, "the checkpoint must be recomputed first")
        #expect(repaired.stdout.contains("removed corrupt object \(p.checkpoint.hex)"), "\(repaired.stdout)")
        #expect(repaired.stderr.contains("object \(p.checkpoint.hex) is missing"))
        #expect(repaired.stderr.contains("re-run `fairgen ingest` or `fairgen reprocess`"))
        // What a re-run would do: put the same bytes back. The run file is then relinked.
        _ = try p.store.objects.put(Array("checkpoint bytes\n".utf8))
        let relinked = try p.scratch.run("store", "verify", "--repair")
        #expect(relinked.status == 0, "\(relinked.stderr)")
        #expect(relinked.stdout.contains("relinked \(p.scratch.path)/store/datasets/derm-demo/v0002/checkpoints/ddpm.safetensors"), "\(relinked.stdout)")
        #expect(relinked.stdout.contains("ok: 4 objects"))
        let clean = try p.scratch.run("store", "verify", "--repair")
        #expect(clean.status == 0 && clean.stdout.hasPrefix("nothing to repair\nok: "))
    }

    /// A real read-only file system (a read-only bind mount in a private mount namespace): the tests
    /// run as root, for whom chmod does not make anything read-only. Skipped where namespaces are not
    /// allowed.
    @Test func verifyWorksOnAReadOnlyMount() throws {
        let p = try PopulatedStore()
        defer { p.scratch.remove() }
        let storePath = p.scratch.path + "/store"
        func verifyReadOnly() throws -> (Int32, String, String) {
            let script = "mount --bind -o ro \"$1\" \"$1\" && touch \"$1/probe\" 2>/dev/null && exit 99; exec \"$2\" store verify --store \"$1\""
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = ["-m", "sh", "-c", script, "sh", storePath, CLI.executable.path]
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        probe.arguments = ["-m", "true"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return }
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { return }  // no mount namespaces here: nothing to test with

        // Without a lock file (no writer has run) and with one (a writer ran once).
        for withLock in [false, true] {
            if withLock { try p.store.lockStore(.exclusive).unlock() }
            let (status, out, err) = try verifyReadOnly()
            #expect(status == 0, "exit \(status): \(err)")
            #expect(out.hasPrefix("ok: 4 objects"), "\(out)")
        }
        try flipInPlace(p.store.objects.path(for: p.checkpoint).path, at: 2)
        let (status, _, err) = try verifyReadOnly()
        #expect(status == 1, "exit \(status): \(err)")
        #expect(err.contains("object \(p.checkpoint.hex): content hash is"))
    }
}
