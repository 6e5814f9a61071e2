import Foundation
@testable import Store

/// A fresh store in its own temp folder; `remove()` deletes it.
struct TempStore {
    let url: URL
    let store: Store

    init(linkStyle: Store.LinkStyle = .hardLink) throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fairgen-store-test-\(UUID().uuidString)")
        store = try Store.open(at: url, create: true, linkStyle: linkStyle)
    }

    var path: String { url.path }

    func remove() { try? FileManager.default.removeItem(at: url) }

    /// Every file under objects/sha256.
    func objectFiles() throws -> [String] {
        try (FileManager.default.subpathsOfDirectory(atPath: path + "/objects/sha256"))
            .filter { !FileIO.isDirectory(path + "/objects/sha256/" + $0) }
    }

    func tmpEntries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path + "/tmp") }

    /// Flips one bit of an object in place (objects are read-only, so make it writable first).
    func corrupt(_ id: ObjectID, at offset: Int = 0) throws {
        let file = store.objects.filePath(id)
        chmod(file, 0o644)
        var bytes = try FileIO.readFile(file)
        bytes[offset] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
