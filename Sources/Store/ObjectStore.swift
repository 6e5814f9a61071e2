import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The name of a store object: the lowercase hex SHA-256 of its bytes (64 characters).
public struct ObjectID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// 64 lowercase hex digits.
    public let hex: String

    /// Parses 64 hex digits (case-insensitive; an optional `sha256:` prefix is accepted).
    public init?(_ text: String) {
        var t = Substring(text)
        if t.hasPrefix("sha256:") { t = t.dropFirst(7) }
        guard t.utf8.count == 64, t.utf8.allSatisfy(ObjectID.isHexDigit) else { return nil }
        hex = t.lowercased()
    }

    init(digest: [UInt8]) {
        hex = SHA256.hex(digest)
    }

    static func isHexDigit(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
    }

    public var description: String { hex }
    public static func < (a: ObjectID, b: ObjectID) -> Bool { a.hex < b.hex }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = ObjectID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "expected a 64-digit hex SHA-256 object id, found '\(text)'"))
        }
        self = id
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// Streaming SHA-256 helpers (1 MiB reads; memory does not grow with the file).
public enum Digests {
    static let chunkSize = 1 << 20

    /// SHA-256 of a byte array, as an object id.
    public static func sha256(_ bytes: [UInt8]) -> ObjectID {
        ObjectID(digest: bytes.withUnsafeBytes { SHA256.hash($0) })
    }

    /// SHA-256 and size of a file, read in chunks.
    public static func sha256(fileAt path: String) throws -> (id: ObjectID, size: Int64) {
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        var hasher = SHA256()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try FileIO.read(fd, buffer, path: path)
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            size += Int64(n)
        }
        return (ObjectID(digest: hasher.finalize()), size)
    }
}

/// Immutable, content-addressed blobs under `objects/sha256/ab/cdef…` (the first two hex digits
/// name a fan-out folder, the other 62 the file). Objects enter only through `ObjectWriter.commit`.
public struct ObjectStore: Sendable {
    /// `…/objects/sha256`.
    public let root: String
    let tmpPath: String

    /// Where the object with this id lives (whether or not it exists).
    public func path(for id: ObjectID) -> URL { URL(fileURLWithPath: filePath(id)) }

    func filePath(_ id: ObjectID) -> String {
        let h = id.hex
        return root + "/" + h.prefix(2) + "/" + h.dropFirst(2)
    }

    /// Whether the object is present.
    public func exists(_ id: ObjectID) -> Bool { FileIO.exists(filePath(id)) }

    /// Size in bytes of a present object, or nil.
    public func size(of id: ObjectID) -> Int64? { FileIO.lstat(filePath(id)).map { Int64($0.st_size) } }

    /// Reads a whole object into memory and checks that its bytes still hash to its id (a flipped
    /// bit on disk is a `.corrupt` error naming the object and the repair path, never silent data).
    public func read(_ id: ObjectID) throws -> [UInt8] {
        let path = filePath(id)
        guard FileIO.exists(path) else { throw StoreError(.notFound, "object \(id.hex) not found (\(path))") }
        let bytes = try FileIO.readFile(path)
        let actual = Digests.sha256(bytes)
        guard actual == id else { throw ObjectStore.corruptError(id, actual: actual, path: path) }
        return bytes
    }

    static func corruptError(_ id: ObjectID, actual: ObjectID, path: String) -> StoreError {
        StoreError(.corrupt, "object \(id.hex) is corrupt: its content hashes to \(actual.hex) (\(path)); "
                   + "run `fairgen store verify --repair`, then re-run what produced it")
    }

    /// Whether the object exists and its content (re-hashed, streaming) still matches its id.
    public func isIntact(_ id: ObjectID) -> Bool {
        guard let (actual, _) = try? Digests.sha256(fileAt: filePath(id)) else { return false }
        return actual == id
    }

    /// What sits at an object's path.
    enum Presence: Equatable { case absent, intact, corrupt }

    /// Whether the object is absent, intact (expected size and hash) or corrupt (anything else).
    /// Hashes the existing file, so a same-size object with flipped bytes is not taken for the real one.
    func presence(_ id: ObjectID, size: Int64) -> Presence {
        guard let st = FileIO.lstat(filePath(id)) else { return .absent }
        guard (st.st_mode & S_IFMT) == S_IFREG, Int64(st.st_size) == size else { return .corrupt }
        return isIntact(id) ? .intact : .corrupt
    }

    /// Stores bytes and returns their id. If an intact object with these bytes already exists, nothing
    /// is written; a corrupt one (same name, other content) is replaced.
    public func put(_ bytes: [UInt8]) throws -> ObjectID {
        let id = Digests.sha256(bytes)
        if presence(id, size: Int64(bytes.count)) == .intact { return id }
        let writer = try ObjectWriter(store: self)
        try bytes.withUnsafeBytes { try writer.write($0) }
        return try writer.commit()
    }

    /// Stores a file's contents (streaming: hashed and copied in 1 MiB chunks, for large shards).
    public func put(contentsOf file: URL) throws -> ObjectID {
        let path = file.path
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        let writer = try ObjectWriter(store: self)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Digests.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try FileIO.read(fd, buffer, path: path)
            if n == 0 { break }
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return try writer.commit()
    }

    /// Starts a streamed object (e.g. a tar shard written piece by piece).
    public func makeWriter() throws -> ObjectWriter { try ObjectWriter(store: self) }

    /// Every object present, found by listing the fan-out folders. Files whose names are not object
    /// ids are returned in `strays`.
    func listAll() throws -> (ids: [ObjectID], strays: [String]) {
        var ids: [ObjectID] = []
        var strays: [String] = []
        for fan in try FileIO.list(root) {
            let dir = root + "/" + fan
            guard fan.utf8.count == 2, FileIO.isDirectory(dir) else { strays.append(dir); continue }
            for rest in try FileIO.list(dir) {
                if let id = ObjectID(fan + rest), id.hex == fan + rest { ids.append(id) } else { strays.append(dir + "/" + rest) }
            }
        }
        return (ids, strays)
    }
}

/// Writes one object: bytes go to a file under the store's `tmp/` while being hashed; `commit`
/// fsyncs it, moves it to `objects/sha256/ab/cdef…` (link + unlink of the temp name, so an intact
/// object is never replaced) and fsyncs that folder. If the object already exists and still hashes
/// to its id, the temp file is dropped and the existing object reused. If it exists but is corrupt
/// (its bytes changed on disk), the fresh copy replaces it atomically (rename): the only case in which
/// an object path is rewritten, and always with the bytes its name promises. Run-folder hard links to
/// the corrupt inode keep the bad bytes until `fairgen store verify --repair` relinks them.
/// An uncommitted writer removes its temp file when released.
public final class ObjectWriter {
    let store: ObjectStore
    let tmpFile: String
    private var fd: Int32
    private var hasher = SHA256()
    private var size: Int64 = 0
    private var finished = false

    init(store: ObjectStore) throws {
        self.store = store
        tmpFile = store.tmpPath + "/" + FileIO.uniqueName("object")
        fd = try FileIO.open(tmpFile, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    }

    deinit { if !finished { abort() } }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "ObjectWriter used after commit/abort")
        hasher.update(bufferPointer: bytes)
        size += Int64(bytes.count)
        try FileIO.writeAll(fd, bytes, path: tmpFile)
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Bytes written so far.
    public var count: Int64 { size }

    /// Places the object in the store (the only code path that creates an object) and returns its id.
    public func commit() throws -> ObjectID {
        precondition(!finished, "ObjectWriter committed twice")
        finished = true
        defer { unlink(tmpFile) }  // no-op after a successful rename
        let id = ObjectID(digest: hasher.finalize())
        do {
            // Objects are read-only so that a hard link in a run folder cannot be edited by accident.
            if fchmod(fd, 0o444) != 0 { throw FileIO.ioError("chmod", tmpFile) }
            try FileIO.fsync(fd, path: tmpFile)
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        let target = store.filePath(id)
        let fanout = (target as NSString).deletingLastPathComponent
        switch store.presence(id, size: size) {
        case .intact:
            return id
        case .corrupt:
            try replaceCorrupt(target, fanout: fanout)
            return id
        case .absent:
            break
        }
        let fanoutIsNew = !FileIO.isDirectory(fanout)
        try FileIO.makeDirectories(fanout)
        if fanoutIsNew { try FileIO.fsyncDirectory(store.root) }
        // link(2) never replaces an existing name, so a concurrent writer of the same bytes cannot
        // swap the inode under a run's hard links; file systems without hard links get rename(2).
        if link(tmpFile, target) != 0 {
            let code = errno
            if code == EEXIST {
                if store.presence(id, size: size) == .corrupt { try replaceCorrupt(target, fanout: fanout) }
                return id
            }
            guard code == EPERM || code == EOPNOTSUPP || code == EMLINK else {
                throw FileIO.ioError("link \(tmpFile) to", target, code)
            }
            try FileIO.rename(tmpFile, target)
        }
        try FileIO.fsyncDirectory(fanout)
        return id
    }

    /// Puts the fresh, verified copy in place of a corrupt object (rename(2) replaces atomically:
    /// readers see the old inode or the new one, never a missing object).
    private func replaceCorrupt(_ target: String, fanout: String) throws {
        try FileIO.rename(tmpFile, target)
        try FileIO.fsyncDirectory(fanout)
    }

    /// Drops the temp file without storing anything.
    public func abort() {
        if !finished { close(fd) }
        finished = true
        unlink(tmpFile)
    }
}
