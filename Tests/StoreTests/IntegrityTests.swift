import Foundation
import Testing
@testable import Store

/// Issue 12: cache hits re-hash their objects, `verify --repair` fixes what needs no recomputation,
/// and verification only reads.
@Suite struct IntegrityTests {
    @Test func cacheHitOnACorruptObjectIsAMissAndNamesTheObject() throws {
        let t = try TempStore()
        defer { t.remove() }
        let id = try t.store.objects.put(bytes("dataset object"))
        let key = try StageKey.compute(stage: "ingest", codeVersion: "1", config: .null, inputs: ["m", "a"])
        try t.store.record(stage: "ingest", key: key, object: id)
        var corrupt: [ObjectID] = []
        #expect(try t.store.lookupObject(stage: "ingest", key: key) { corrupt.append($0) } == id)
        #expect(corrupt.isEmpty)
        try t.corrupt(id, at: 0)
        #expect(try t.store.lookupObject(stage: "ingest", key: key) { corrupt.append($0) } == nil)
        #expect(corrupt == [id])
        // Re-doing the work puts the same bytes: the object is replaced and the key hits again.
        #expect(try t.store.objects.put(bytes("dataset object")) == id)
        #expect(try t.store.record(stage: "ingest", key: key, object: id) == id)
        #expect(try t.store.lookupObject(stage: "ingest", key: key) == id)
    }

    @Test func repairRemovesCorruptObjectsAndStaleKeysThenRelinksRunFiles() throws {
        let t = try TempStore()
        defer { t.remove() }
        let store = t.store
        let checkpoint = try store.objects.put(bytes("checkpoint bytes"))
        let other = try store.objects.put(bytes("another object"))
        let key = try StageKey.compute(stage: "train", codeVersion: "1", config: .null, inputs: [])
        try store.record(stage: "train", key: key, object: checkpoint)
        let run = try store.createRun(dataset: "derm")
        try run.link(checkpoint, as: "checkpoints/ddpm.safetensors")
        try run.link(other, as: "report.html")
        try run.complete()
        #expect(try store.verify().ok)
        // Flip a byte of the object: its hard link in the run folder is the same inode, so it goes bad too.
        try flipInPlace(store.objects.filePath(checkpoint), at: 5)
        let runFile = t.path + "/datasets/derm/v0001/checkpoints/ddpm.safetensors"
        #expect(try FileIO.readFile(runFile) != bytes("checkpoint bytes"))

        let first = try store.repair()
        #expect(first.removedObjects == [checkpoint])
        #expect(first.removedKeys == [t.path + "/keys/train/" + key.hex])
        #expect(first.relinked.isEmpty, "nothing to relink to until the object is recomputed")
        #expect(!store.objects.exists(checkpoint) && store.objects.exists(other))
        let left = try store.verify().problems.map(\.message).joined(separator: "\n")
        #expect(left.contains("object \(checkpoint.hex) is missing (referenced by run derm/v0001 file checkpoints/ddpm.safetensors)"))
        #expect(!left.contains("keys/"))

        // Recompute (deterministic: same bytes, same id), repair again: the run file is a link again.
        #expect(try store.objects.put(bytes("checkpoint bytes")) == checkpoint)
        let second = try store.repair()
        #expect(second.removedObjects.isEmpty && second.removedKeys.isEmpty && second.relinked == [runFile])
        #expect(try FileIO.readFile(runFile) == bytes("checkpoint bytes"))
        let problems = try store.verify().problems
        #expect(problems.isEmpty, "\(problems)")
        #expect(try store.repair().isEmpty)
    }

    @Test func repairLeavesIntactStoresAndUnrecordedFilesAlone() throws {
        let t = try TempStore(linkStyle: .symbolicLink)
        defer { t.remove() }
        let id = try t.store.objects.put(bytes("report"))
        let run = try t.store.createRun(dataset: "d")
        try run.link(id, as: "report.html")
        try run.complete()
        let before = try snapshot(t.path)
        #expect(try t.store.repair().isEmpty)
        #expect(try snapshot(t.path) == before)
    }

    @Test func readOnlyVerificationCreatesAndChangesNothing() throws {
        let t = try TempStore()
        defer { t.remove() }
        let id = try t.store.objects.put(bytes("object"))
        let run = try t.store.createRun(dataset: "d")
        try run.link(id, as: "x.bin")
        try run.complete()
        // No writer has locked this store yet: no lock file, and verification must not make one.
        #expect(!FileIO.exists(t.store.storeLockPath))
        var before = try snapshot(t.path)
        do {
            let lock = try t.store.lockStoreReadOnly()
            #expect(lock == nil)
            #expect(try t.store.verify().ok)
        }
        #expect(try snapshot(t.path) == before)
        // With a lock file (a writer ran once): it is opened read-only and left as it was.
        try t.store.lockStore(.exclusive).unlock()
        chmod(t.store.storeLockPath, 0o444)
        before = try snapshot(t.path)
        let lock = try #require(try t.store.lockStoreReadOnly())
        #expect(try t.store.verify().ok)
        // A shared holder still excludes writers.
        #expect { try t.store.lockStore(.exclusive) } throws: { ($0 as? StoreError)?.kind == .locked }
        lock.unlock()
        #expect(try snapshot(t.path) == before)
    }
}

/// Flips one bit of a file in place (same inode, so hard links see it too), as a failing disk would.
private func flipInPlace(_ path: String, at offset: Int) throws {
    chmod(path, 0o644)
    let fd = open(path, O_RDWR)
    defer { close(fd) }
    var byte: UInt8 = 0
    #expect(pread(fd, &byte, 1, off_t(offset)) == 1)
    byte ^= 0x01
    #expect(pwrite(fd, &byte, 1, off_t(offset)) == 1)
}

/// Every path under `root` with its type, size, mode and modification time (nanoseconds).
private func snapshot(_ root: String) throws -> [String: String] {
    var out: [String: String] = [:]
    let all = [""] + (try FileManager.default.subpathsOfDirectory(atPath: root))
    for relative in all {
        let path = relative.isEmpty ? root : root + "/" + relative
        guard let st = FileIO.lstat(path) else { continue }
        out[relative] = "\(st.st_mode) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_nlink)"
    }
    return out
}
