import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An advisory `flock(2)` lock on a file under `locks/`. Exclusive holders write their PID into the
/// file so that a refused process can name them. The lock is released by `unlock()`, when the
/// object is released, or by the kernel when the process dies (no stale locks after a crash).
/// Lock files are never deleted (deleting a flock file lets two processes lock different inodes).
public final class StoreLock {
    /// Shared (readers, e.g. verify) or exclusive (writers).
    public enum Mode: Sendable { case shared, exclusive }

    /// The lock file.
    public let path: String
    public let mode: Mode
    private var fd: Int32

    private init(path: String, mode: Mode, fd: Int32) {
        self.path = path
        self.mode = mode
        self.fd = fd
    }

    deinit { unlock() }

    /// Takes the lock now or throws a `.locked` error naming the lock file and the holder's PID.
    public static func tryLock(_ path: String, mode: Mode = .exclusive) throws -> StoreLock {
        try lock(path, mode: mode, wait: 0)
    }

    /// Takes the lock, waiting up to `wait` seconds (nil: as long as it takes). On timeout, throws a
    /// `.locked` error naming the lock file and the holder's PID.
    public static func lock(_ path: String, mode: Mode = .exclusive, wait: Double?) throws -> StoreLock {
        // A shared holder never writes the file, so it opens it read-only (flock(2) does not need
        // write access); that is what lets `store verify` run on a read-only store. Only a missing
        // file makes it create one.
        var fd: Int32 = -1
        if mode == .shared { fd = Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { fd = try openLockFile(path, mode: mode) }
        let op = mode == .exclusive ? LOCK_EX : LOCK_SH
        let deadline = wait.map { Date().addingTimeInterval($0) }
        while flock(fd, op | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(fd)
                throw FileIO.ioError("flock", path, code)
            }
            if let deadline, Date() >= deadline {
                let holder = holderDescription(fd)
                close(fd)
                let waited = (wait ?? 0) > 0 ? " after waiting \(wait!) s" : ""
                throw StoreError(.locked, "store is busy: lock \(path) is held by \(holder)\(waited); retry when it finishes")
            }
            usleep(50_000)
        }
        let lock = StoreLock(path: path, mode: mode, fd: fd)
        if mode == .exclusive {
            let text = Array("\(getpid())\n".utf8)
            if ftruncate(fd, 0) != 0 { throw FileIO.ioError("truncate", path) }
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) }
        }
        return lock
    }

    /// Opens (creating when missing) a lock file for writing its holder's PID. On a read-only or
    /// unwritable store a shared lock still works through a read-only descriptor (`flock` ignores the
    /// open mode), so readers such as `store verify` keep working; anything else is refused with an
    /// error that says so, never with "held by another process".
    static func openLockFile(_ path: String, mode: Mode) throws -> Int32 {
        do {
            return try FileIO.open(path, O_RDWR | O_CREAT, 0o644)
        } catch let error as StoreError where error.isNotWritable {
            if mode == .shared, let fd = try? FileIO.open(path, O_RDONLY) { return fd }
            let store = ((path as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            throw StoreError(.io, "store is read-only or not writable: cannot open lock file \(path) for writing "
                             + "(\(String(cString: strerror(error.code ?? EROFS)))); check how \(store) is mounted "
                             + "and that this user may write there", code: error.code)
        }
    }

    /// Releases the lock (idempotent).
    public func unlock() {
        guard fd >= 0 else { return }
        if mode == .exclusive { _ = ftruncate(fd, 0) }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    /// "PID 1234" when the file names a live process, otherwise a reader holding a shared lock.
    static func holderDescription(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
        let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
        if let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
           kill(pid, 0) == 0 || errno == EPERM {
            return "PID \(pid)"
        }
        return "another process (a shared reader, PID not recorded)"
    }
}

extension Store {
    /// The path of the store-wide lock file.
    public var storeLockPath: String { locksPath + "/store.lock" }

    /// Path of a dataset's lock file (`locks/dataset-NAME.lock`).
    public func datasetLockPath(_ name: String) throws -> String {
        try Store.validateDatasetName(name)
        return locksPath + "/dataset-" + name + ".lock"
    }

    /// Takes the store lock: exclusive for any writer (ingest, run, gc), shared for verify.
    /// `wait`: 0 fails at once, nil waits as long as it takes.
    public func lockStore(_ mode: StoreLock.Mode = .exclusive, wait: Double? = 0) throws -> StoreLock {
        try FileIO.makeDirectories(locksPath)
        return try StoreLock.lock(storeLockPath, mode: mode, wait: wait)
    }

    /// Takes the store lock shared without writing anything to the store: the lock file is opened
    /// read-only, and when it does not exist (no writer has ever locked this store, or it is a
    /// read-only copy made without one) the store is read unlocked and nil is returned. For
    /// `store verify`, which must work on read-only media (docs/store.md).
    public func lockStoreReadOnly(wait: Double? = 0) throws -> StoreLock? {
        guard FileIO.exists(storeLockPath) else { return nil }
        return try StoreLock.lock(storeLockPath, mode: .shared, wait: wait)
    }

    /// Takes the per-dataset lock (one job per dataset).
    public func lockDataset(_ name: String, wait: Double? = 0) throws -> StoreLock {
        let path = try datasetLockPath(name)
        try FileIO.makeDirectories(locksPath)
        return try StoreLock.lock(path, mode: .exclusive, wait: wait)
    }
}
