import Foundation
import Text
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the daemon's own machinery (file system, lock, queue); the message names the path.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// The message is rendered with `UntrustedText.terminal`: it may name inbox files.
    public init(_ message: String) { self.message = UntrustedText.terminal(message) }
    public var description: String { message }
}

/// What identifies one version of a file: if any field changes, the file changed (or was replaced).
public struct FileIdentity: Codable, Sendable, Equatable, Hashable {
    public var size: Int64
    /// Modification time in nanoseconds since 1970.
    public var mtimeNs: Int64
    public var inode: UInt64
    public var device: UInt64

    public init(size: Int64, mtimeNs: Int64, inode: UInt64 = 0, device: UInt64 = 0) {
        self.size = size
        self.mtimeNs = mtimeNs
        self.inode = inode
        self.device = device
    }

    enum CodingKeys: String, CodingKey {
        case size, inode, device
        case mtimeNs = "mtime_ns"
    }

    /// Modification time in seconds since 1970.
    public var mtime: Double { Double(mtimeNs) / 1e9 }
}

/// POSIX helpers with crash-safe writes: data goes to a dot-temp file in the target folder, is
/// fsynced, renamed into place, and the folder is fsynced, so a reader sees the old or the new
/// file, never a torn one, whatever instant the process dies.
public enum FileOps {
    static func posixError(_ op: String, _ path: String, _ code: Int32 = errno) -> DaemonError {
        DaemonError("\(op) \(path): \(String(cString: strerror(code)))")
    }

    /// Prefix of the temp files this module writes; listings skip them and recovery removes them.
    public static let tempPrefix = ".tmp-"

    /// Returns the identity of a regular file, or nil when it does not exist or is not a regular file.
    public static func identity(_ path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let ns = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        return FileIdentity(size: Int64(st.st_size), mtimeNs: ns, inode: UInt64(st.st_ino),
                            device: UInt64(st.st_dev))
    }

    /// True when `path` exists (any type; symlinks are not followed).
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// True when `path` is a directory (following symlinks).
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its parents when missing. A failure names the folder and the system's
    /// reason ("Not a directory", "Read-only file system", "No space left on device").
    public static func makeDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !parent.isEmpty && parent != path { try makeDirectory(parent) }
        if mkdir(path, 0o777) != 0 {
            let code = errno
            if code == EEXIST && isDirectory(path) { return }    // created meanwhile by another process
            if code == EEXIST { throw DaemonError("cannot create folder \(path): it exists and is not a folder") }
            throw posixError("cannot create folder", path, code)
        }
    }

    /// Names in a folder, sorted, without "." and "..". A missing folder lists as empty.
    public static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// fsyncs a folder so that a rename or create inside it survives a power loss.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    /// Writes all bytes to `fd`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw posixError("write", path)
            }
            offset += n
        }
    }

    static func tempPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let suffix = String(UInt64.random(in: 0..<UInt64.max), radix: 36)
        return dir + "/" + tempPrefix + url.lastPathComponent + "-\(getpid())-" + suffix
    }

    /// Replaces `path` with `data` atomically (temp + fsync + rename + fsync of the folder).
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let temp = tempPath(for: path)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw posixError("create", temp) }
        do {
            try data.withUnsafeBytes { try writeAll(fd, $0, path: temp) }
            if fsync(fd) != 0 { throw posixError("fsync", temp) }
        } catch {
            close(fd); unlink(temp)
            throw error
        }
        close(fd)
        if rename(temp, path) != 0 {
            let err = posixError("rename to", path)
            unlink(temp)
            throw err
        }
        syncDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    /// Copies a regular file crash-safely (temp + fsync + rename) and keeps its modification time.
    public static func copyFile(from source: String, to destination: String) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        if input < 0 { throw posixError("open", source) }
        defer { close(input) }
        let temp = tempPath(for: destination)
        let output = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if output < 0 { throw posixError("create", temp) }
        do {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = Glibc.read(input, buffer.baseAddress!, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw posixError("read", source)
                }
                if n == 0 { break }
                try writeAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: temp)
            }
            var st = stat()
            if fstat(input, &st) == 0 {
                var times = [st.st_atim, st.st_mtim]
                _ = futimens(output, &times)
            }
            if fsync(output) != 0 { throw posixError("fsync", temp) }
        } catch {
            close(output); unlink(temp)
            throw error
        }
        close(output)
        if rename(temp, destination) != 0 {
            let err = posixError("rename to", destination)
            unlink(temp)
            throw err
        }
        syncDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
    }

    /// Renames `source` to `destination` (same file system) and fsyncs both folders.
    /// Fails rather than overwrite an existing destination.
    public static func move(_ source: String, to destination: String) throws {
        if exists(destination) { throw DaemonError("cannot move \(source): \(destination) already exists") }
        if rename(source, destination) != 0 { throw posixError("move \(source) to", destination) }
        syncDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
        syncDirectory(URL(fileURLWithPath: source).deletingLastPathComponent().path)
    }

    /// Moves a file, copying then unlinking the source when the two paths are on different file
    /// systems. Only used for files the daemon itself owns (its job-area copies).
    static func moveAcrossDevices(_ source: String, to destination: String) throws {
        if exists(destination) { throw DaemonError("cannot move \(source): \(destination) already exists") }
        if rename(source, destination) == 0 {
            syncDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
            return
        }
        guard errno == EXDEV else { throw posixError("move \(source) to", destination) }
        try copyFile(from: source, to: destination)
        unlink(source)
    }

    /// Removes a folder tree the daemon created (job work areas). Never called on user paths.
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Reads a whole file, or throws an error naming it.
    public static func read(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DaemonError("cannot read \(path): " + (exists(path) ? "permission denied" : "no such file"))
        }
        return data
    }

    /// UTC time as used in folder names: 20261128T124500Z.
    public static func compactUTC(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date)
    }

    /// ISO 8601 UTC time with milliseconds, as written into JSON files.
    public static func isoUTC(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}
