import Foundation
import Testing
@testable import Store

/// A store with one object of each kind of reference plus one unreferenced object.
private struct Populated {
    let t: TempStore
    let keyed: ObjectID, linked: ObjectID, output: ObjectID, orphan: ObjectID

    init(linkStyle: Store.LinkStyle = .hardLink) throws {
        t = try TempStore(linkStyle: linkStyle)
        let store = t.store
        keyed = try store.objects.put(bytes("dataset object"))
        linked = try store.objects.put(bytes("checkpoint"))
        output = try store.objects.put(bytes("stage output"))
        orphan = try store.objects.put(bytes("nobody points here"))
        let key = try StageKey.compute(stage: "ingest", codeVersion: "1", config: .null, inputs: ["m", "a"])
        try store.record(stage: "ingest", key: key, object: keyed)
        let run = try store.createRun(dataset: "derm-demo")
        try run.stageFinished("train-ddpm", outputs: ["checkpoint": output], status: .complete, wallSeconds: 0.5)
        try run.link(linked, as: "checkpoints/ddpm.safetensors")
        try run.complete()
    }
}

@Suite struct VerifyTests {
    @Test func passesOnAFreshStoreAndFailsAfterOneFlippedByte() throws {
        let p = try Populated()
        defer { p.t.remove() }
        let clean = try p.t.store.verify()
        #expect(clean.ok, "\(clean.problems)")
        #expect(clean.objectsChecked == 4)
        #expect(clean.referencesChecked >= 4)
        try p.t.corrupt(p.output, at: 3)
        let report = try p.t.store.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.message.contains("object \(p.output.hex)") == true)
        #expect(report.problems.first?.message.contains("content hash") == true)
    }

    @Test func catchesDanglingReferences() throws {
        let p = try Populated()
        defer { p.t.remove() }
        let missing = ObjectID(String(repeating: "0", count: 64))!
        // A key pointing at a missing object.
        let key = try StageKey.compute(stage: "mix", codeVersion: "1", config: .null, inputs: [])
        try FileIO.makeDirectories(p.t.path + "/keys/mix")
        try Data((missing.hex + "\n").utf8).write(to: URL(fileURLWithPath: p.t.path + "/keys/mix/" + key.hex))
        var report = try p.t.store.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.message.contains("object \(missing.hex) is missing") == true)
        #expect(report.problems.first?.path.hasSuffix("keys/mix/" + key.hex) == true)

        // A run file whose object was deleted behind the store's back (hard link now orphaned).
        unlink(p.t.store.objects.filePath(p.linked))
        report = try p.t.store.verify()
        let messages = report.problems.map(\.message).joined(separator: "\n")
        #expect(messages.contains("object \(p.linked.hex) is missing (referenced by run derm-demo/v0001 file checkpoints/ddpm.safetensors)"))
        #expect(messages.contains("is not a link to any store object"))
    }

    @Test func catchesDanglingSymlinkAndBrokenLatest() throws {
        let p = try Populated(linkStyle: .symbolicLink)
        defer { p.t.remove() }
        #expect(try p.t.store.verify().ok)
        unlink(p.t.store.objects.filePath(p.linked))
        unlink(p.t.path + "/datasets/derm-demo/latest")
        symlink("v0009", p.t.path + "/datasets/derm-demo/latest")
        let messages = try p.t.store.verify().problems.map(\.message).joined(separator: "\n")
        #expect(messages.contains("dangling link"))
        #expect(messages.contains(p.linked.hex))
        #expect(messages.contains("latest points to 'v0009'"))
    }
}

@Suite struct GCTests {
    @Test func removesOnlyUnreferencedObjects() throws {
        let p = try Populated()
        defer { p.t.remove() }
        let dry = try p.t.store.gc(dryRun: true)
        #expect(dry.removedObjects == [p.orphan])
        #expect(dry.keptObjects == 3)
        #expect(p.t.store.objects.exists(p.orphan), "dry run must not delete")

        let report = try p.t.store.gc(dryRun: false)
        #expect(report.removedObjects == [p.orphan])
        #expect(report.removedBytes == Int64("nobody points here".utf8.count))
        #expect(!p.t.store.objects.exists(p.orphan))
        for id in [p.keyed, p.linked, p.output] { #expect(p.t.store.objects.exists(id)) }
        #expect(try p.t.store.verify().ok)
        #expect(try p.t.store.gc(dryRun: false).removedObjects.isEmpty)
    }

    @Test func keepsObjectsLinkedButNotYetRecorded() throws {
        // A crash between link and run.json update leaves a link that run.json does not list:
        // gc must still keep its object.
        let t = try TempStore()
        defer { t.remove() }
        let id = try t.store.objects.put(bytes("half-recorded"))
        _ = try t.store.createRun(dataset: "d")
        let dir = t.path + "/datasets/d/v0001/checkpoints"
        try FileIO.makeDirectories(dir)
        link(t.store.objects.filePath(id), dir + "/x.safetensors")
        #expect(try t.store.gc(dryRun: false).removedObjects.isEmpty)
        #expect(try t.store.verify().problems.map(\.message) == ["run d/v0001: file checkpoints/x.safetensors is not recorded in run.json"])
    }

    @Test func removesOnlyStaleTempFiles() throws {
        let t = try TempStore()
        defer { t.remove() }
        try Data("old".utf8).write(to: URL(fileURLWithPath: t.path + "/tmp/object.1.old"))
        try Data("new".utf8).write(to: URL(fileURLWithPath: t.path + "/tmp/object.2.new"))
        let twoHoursAgo = Date().addingTimeInterval(-7200)
        try FileManager.default.setAttributes([.modificationDate: twoHoursAgo], ofItemAtPath: t.path + "/tmp/object.1.old")
        let report = try t.store.gc(dryRun: false)
        #expect(report.removedTmp == [t.path + "/tmp/object.1.old"])
        #expect(try t.tmpEntries() == ["object.2.new"])
    }

    @Test func refusesWhenARunIsUnreadable() throws {
        let p = try Populated()
        defer { p.t.remove() }
        let runJSON = p.t.path + "/datasets/derm-demo/v0001/run.json"
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: runJSON))
        #expect { try p.t.store.gc(dryRun: false) } throws: { "\($0)".contains(runJSON) }
        #expect(p.t.store.objects.exists(p.orphan))
    }
}

@Suite struct LockTests {
    @Test func secondWriterFailsNamingTheHolder() throws {
        let t = try TempStore()
        defer { t.remove() }
        let first = try t.store.lockStore(.exclusive)
        #expect(String(decoding: try FileIO.readFile(t.store.storeLockPath), as: UTF8.self) == "\(getpid())\n")
        #expect { try t.store.lockStore(.exclusive) } throws: { error in
            let text = "\(error)"
            return (error as? StoreError)?.kind == .locked && text.contains(t.store.storeLockPath)
                && text.contains("PID \(getpid())")
        }
        #expect(throws: StoreError.self) { try t.store.lockStore(.shared) }
        // Waiting gives up after the timeout and says so.
        let start = Date()
        #expect { try t.store.lockStore(.exclusive, wait: 0.2) } throws: { "\($0)".contains("after waiting") }
        #expect(Date().timeIntervalSince(start) >= 0.2)
        first.unlock()
        let second = try t.store.lockStore(.exclusive)
        second.unlock()
        // Readers share.
        let r1 = try t.store.lockStore(.shared)
        let r2 = try t.store.lockStore(.shared)
        #expect { try t.store.lockStore(.exclusive) } throws: { "\($0)".contains("shared reader") }
        r1.unlock(); r2.unlock()
    }

    @Test func datasetLocksAreIndependent() throws {
        let t = try TempStore()
        defer { t.remove() }
        let a = try t.store.lockDataset("derm-demo")
        let b = try t.store.lockDataset("chest-xray")
        #expect(throws: StoreError.self) { try t.store.lockDataset("derm-demo") }
        #expect(throws: StoreError.self) { try t.store.lockDataset("../x") }
        a.unlock(); b.unlock()
        #expect(FileIO.exists(t.path + "/locks/dataset-derm-demo.lock"))
    }
}
