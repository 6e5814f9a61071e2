import Foundation
import Text
#if canImport(Glibc)
import Glibc
#endif

/// An error from the store. `kind` says who has to act (the user, or a developer); `message` is one
/// line that names the file or object concerned.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// Who or what is at fault.
    public enum Kind: Sendable {
        /// A name, id or path given by the user does not exist in the store.
        case notFound
        /// A name, id or path given by the user is malformed.
        case invalid
        /// Another process holds the lock.
        case locked
        /// The store's contents disagree with their hashes or references.
        case corrupt
        /// An attempt to change something the store never rewrites (a complete run, an object).
        case immutable
        /// The operating system refused an operation (disk full, permissions, …).
        case io
    }
    public let kind: Kind
    public let message: String
    /// The `errno` of the failed system call, for `.io` errors made from one.
    public let code: Int32?
    /// The message is rendered with `UntrustedText.terminal`: it may quote user-given names and paths.
    public init(_ kind: Kind, _ message: String, code: Int32? = nil) {
        self.kind = kind
        self.message = UntrustedText.terminal(message)
        self.code = code
    }
    public var description: String { message }

    /// The file system is full (ENOSPC) or the user's quota is used up (EDQUOT).
    public var isNoSpace: Bool { code == ENOSPC || code == EDQUOT }
    /// The file system is mounted read-only (EROFS) or this user may not write there (EACCES, EPERM).
    public var isNotWritable: Bool { code == EROFS || code == EACCES || code == EPERM }
}

/// Thin wrappers over POSIX calls: every failure becomes a `StoreError` naming the path and the call.
enum FileIO {
    /// The error of a failed call `op` on `path`. A full disk says "no space left" in so many words
    /// (the CLI keys its exit status on `code`, the operator on the text).
    static func ioError(_ op: String, _ path: String, _ code: Int32 = errno) -> StoreError {
        let reason: String
        switch code {
        case ENOSPC: reason = "no space left on device"
        case EDQUOT: reason = "no space left: disk quota exceeded"
        default: reason = String(cString: strerror(code))
        }
        return StoreError(.io, "\(op) \(path): \(reason)", code: code)
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw ioError("open", path) }
        return fd
    }

    /// Writes all bytes, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write", path)
            }
            offset += n
        }
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file.
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw ioError("read", path) }
        }
    }

    static func fsync(_ fd: Int32, path: String) throws {
        if Glibc.fsync(fd) != 0 { throw ioError("fsync", path) }
    }

    /// Makes a rename or link inside `directory` durable.
    static func fsyncDirectory(_ directory: String) throws {
        let fd = try open(directory, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: directory)
    }

    static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw ioError("rename \(from) to", to) }
    }

    /// Reads a whole (small) file.
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(fd, $0, path: path) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    static func lstat(_ path: String) -> stat? {
        var st = stat()
        return Glibc.lstat(path, &st) == 0 ? st : nil
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool { lstat(path) != nil }

    /// Creates a directory and its parents (like `mkdir -p`).
    static func makeDirectories(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw ioError("mkdir", path) }
    }

    /// Names in a directory, sorted, without `.` and `..`; empty if the directory does not exist.
    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw ioError("opendir", path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// A file name unique across processes and threads, for files under the store's `tmp/`.
    static func uniqueName(_ hint: String) -> String {
        "\(hint).\(getpid()).\(UInt64.random(in: 0...UInt64.max) & 0xffff_ffff_ffff)"
    }

    /// Writes `bytes` to `path` atomically: a file in `tmpDirectory` (same file system), fsync,
    /// rename over `path`, fsync of the parent directory. A crash leaves either the old file or the
    /// new one, plus at worst a stray temp file that `gc` removes.
    static func atomicWrite(_ bytes: [UInt8], to path: String, tmpDirectory: String, mode: mode_t = 0o644) throws {
        let tmp = tmpDirectory + "/" + uniqueName("write")
        let fd = try open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode)
        do {
            defer { close(fd) }
            try bytes.withUnsafeBytes { try writeAll(fd, $0, path: tmp) }
            try fsync(fd, path: tmp)
        } catch {
            unlink(tmp)
            throw error
        }
        do { try rename(tmp, path) } catch {
            unlink(tmp)
            throw error
        }
        try fsyncDirectory((path as NSString).deletingLastPathComponent)
    }
}
