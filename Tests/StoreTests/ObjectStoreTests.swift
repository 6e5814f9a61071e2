import Foundation
import Testing
@testable import Store

@Suite struct ObjectStoreTests {
    @Test func layoutIsCreated() throws {
        let t = try TempStore()
        defer { t.remove() }
        for dir in ["objects/sha256", "tmp", "keys", "datasets", "locks",
                    "queue/pending", "queue/running", "queue/done", "queue/failed"] {
            #expect(FileIO.isDirectory(t.path + "/" + dir), "missing \(dir)")
        }
        // Opening without create works on a store, and names the folder when it is not one.
        _ = try Store.open(at: t.url, create: false)
        let missing = t.url.appendingPathComponent("nope")
        #expect { try Store.open(at: missing, create: false) } throws: { error in
            (error as? StoreError)?.kind == .notFound && "\(error)".contains(missing.path)
        }
    }

    @Test func putIsAtomicAndLeavesNoTempFile() throws {
        let t = try TempStore()
        defer { t.remove() }
        let id = try t.store.objects.put(bytes("hello store"))
        #expect(id == Digests.sha256(bytes("hello store")))
        #expect(try t.tmpEntries().isEmpty)
        let path = t.store.objects.path(for: id).path
        #expect(path.hasSuffix("objects/sha256/" + id.hex.prefix(2) + "/" + id.hex.dropFirst(2)))
        #expect(try FileIO.readFile(path) == bytes("hello store"))
        #expect(try t.store.objects.read(id) == bytes("hello store"))
        // Read-only, so a hard link in a run folder cannot be edited by accident.
        #expect(FileIO.lstat(path)!.st_mode & 0o777 == 0o444)
    }

    @Test func knownDigest() {
        // printf 'abc' | sha256sum
        #expect(Digests.sha256(bytes("abc")).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func sameBytesGiveSameIDAndNoSecondFile() throws {
        let t = try TempStore()
        defer { t.remove() }
        let a = try t.store.objects.put(bytes("same"))
        let inode = FileIO.lstat(t.store.objects.filePath(a))!.st_ino
        let b = try t.store.objects.put(bytes("same"))
        #expect(a == b)
        #expect(try t.objectFiles().count == 1)
        #expect(FileIO.lstat(t.store.objects.filePath(a))!.st_ino == inode, "object must not be rewritten")
        // The streaming path (via a writer) reuses it too.
        let writer = try t.store.objects.makeWriter()
        try writer.write(bytes("sa"))
        try writer.write(bytes("me"))
        #expect(try writer.commit() == a)
        #expect(try t.objectFiles().count == 1)
        #expect(try t.tmpEntries().isEmpty)
    }

    @Test func putFromFileStreamsLargeFiles() throws {
        let t = try TempStore()
        defer { t.remove() }
        var data = [UInt8](repeating: 0, count: 3 * (1 << 20) + 12345)
        for i in data.indices { data[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        let file = t.url.appendingPathComponent("shard.bin")
        try Data(data).write(to: file)
        let id = try t.store.objects.put(contentsOf: file)
        #expect(id == Digests.sha256(data))
        let streamed = try Digests.sha256(fileAt: file.path)
        #expect(streamed.id == id && streamed.size == Int64(data.count))
        #expect(t.store.objects.size(of: id) == Int64(data.count))
        #expect(try t.tmpEntries().isEmpty)
    }

    /// Issue 12: `put` used to keep any existing object of the right size, corrupt or not.
    @Test func putReplacesACorruptObjectOfAnySize() throws {
        let t = try TempStore()
        defer { t.remove() }
        let id = try t.store.objects.put(bytes("twelve bytes"))
        let file = t.store.objects.filePath(id)
        // Same size, one bit flipped: put re-hashes the existing file and replaces it.
        try t.corrupt(id, at: 4)
        #expect(!t.store.objects.isIntact(id))
        #expect(try t.store.objects.put(bytes("twelve bytes")) == id)
        #expect(try FileIO.readFile(file) == bytes("twelve bytes") && t.store.objects.isIntact(id))
        // Other size: replaced too (streamed put this time).
        chmod(file, 0o644)
        try Data(bytes("short")).write(to: URL(fileURLWithPath: file))
        let source = t.url.appendingPathComponent("source.bin")
        try Data(bytes("twelve bytes")).write(to: source)
        #expect(try t.store.objects.put(contentsOf: source) == id)
        #expect(try FileIO.readFile(file) == bytes("twelve bytes"))
        #expect(FileIO.lstat(file)!.st_mode & 0o777 == 0o444)
        #expect(try t.tmpEntries().isEmpty)
    }

    @Test func readRefusesACorruptObjectNamingItAndTheRepair() throws {
        let t = try TempStore()
        defer { t.remove() }
        let id = try t.store.objects.put(bytes("some object bytes"))
        #expect(try t.store.objects.read(id) == bytes("some object bytes"))
        try t.corrupt(id, at: 2)
        #expect { try t.store.objects.read(id) } throws: { error in
            (error as? StoreError)?.kind == .corrupt && "\(error)".contains("object \(id.hex) is corrupt")
                && "\(error)".contains("fairgen store verify --repair")
        }
    }

    @Test func abortedWriterLeavesNothing() throws {
        let t = try TempStore()
        defer { t.remove() }
        do {
            let writer = try t.store.objects.makeWriter()
            try writer.write(bytes("partial"))
            #expect(try t.tmpEntries().count == 1)
            writer.abort()
        }
        do {
            let writer = try t.store.objects.makeWriter()
            try writer.write(bytes("dropped without commit"))
        }
        #expect(try t.tmpEntries().isEmpty)
        #expect(try t.objectFiles().isEmpty)
    }

    @Test func objectIDParsing() {
        let hex = String(repeating: "ab", count: 32)
        #expect(ObjectID(hex)?.hex == hex)
        #expect(ObjectID("sha256:" + hex.uppercased())?.hex == hex)
        #expect(ObjectID(String(hex.dropLast())) == nil)
        #expect(ObjectID(String(hex.dropLast()) + "g") == nil)
        #expect(ObjectID("../" + hex) == nil)
    }
}
