import Foundation
import Store
#if canImport(Glibc)
import Glibc
#endif

/// The "one daemon per store" lock: an exclusive `flock` on `store/locks/daemon.lock`, which also holds
/// the holder's PID so that a refused second daemon can say who is running. The kernel drops the lock
/// when the process dies (even by `kill -9`), so a stale lock file never blocks a restart; the file
/// itself is never deleted (deleting lock files races with other openers).
///
/// `flock` only binds processes of one kernel on some shared file systems, so a second layer holds across
/// the nodes of a cluster: the lease lock `store/locks/daemon.lease` (`LeaseLock`, docs/cluster.md). A
/// daemon on another node is refused while the holder's heartbeat runs, and takes over once it stops.
public final class DaemonLock {
    /// The lock file.
    public let path: String
    private var fd: Int32 = -1
    private var lease: LeaseLock?

    /// The lock file of a store: `STORE/locks/daemon.lock`.
    public static func path(store: URL) -> String {
        store.appendingPathComponent("locks/daemon.lock").path
    }

    /// Takes the lock or throws a `DaemonError` naming the lock file and the PID holding it.
    public init(store: URL) throws {
        path = DaemonLock.path(store: store)
        try FileOps.makeDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileOps.posixError("open lock file", path) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let code = errno
            let holder = DaemonLock.readPID(fd: fd)
            close(fd)
            fd = -1
            if code == EWOULDBLOCK {
                let who = holder.map { "pid \($0)" } ?? "another process"
                throw DaemonError("another fairgen daemon (\(who)) holds \(path); one daemon per store: "
                                  + "stop it first or use a different --store")
            }
            throw FileOps.posixError("flock", path, code)
        }
        // Record our PID for the refusal message of a second daemon (best effort).
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        _ = fsync(fd)
        do {
            lease = try LeaseLock.acquire(DaemonLock.leasePath(store: store), purpose: "fairgen daemon", wait: 0)
        } catch let error as StoreError where error.kind == .locked {
            release()
            throw DaemonError("another fairgen daemon holds this store (\(error.message)); one daemon per store: "
                              + "stop it first or use a different --store")
        }
    }

    /// The cross-node lease of a store: `STORE/locks/daemon.lease`.
    public static func leasePath(store: URL) -> String {
        store.appendingPathComponent("locks/daemon.lease").path
    }

    /// The PID recorded in a lock file, if any (whether or not the lock is currently held).
    public static func recordedPID(path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        return readPID(fd: fd)
    }

    private static func readPID(fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text)
    }

    /// Releases the lock (also released automatically when the process exits).
    public func release() {
        lease?.release()
        lease = nil
        if fd >= 0 {
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
