import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock that holds across the machines of a cluster sharing the store over NFS, Lustre,
/// GPFS or BeeGFS (docs/cluster.md, "Locks on a shared file system").
///
/// The lock *is* a file, created with `open(O_CREAT | O_EXCL)` — an atomic operation on every one of
/// those file systems (NFSv3 and later carry exclusive create in the protocol; `flock(2)` is not
/// available everywhere: Lustre refuses it unless mounted with `-o flock`, older NFS clients emulate
/// it locally). The file holds the holder's host, PID, boot id and a random token. While held, a
/// heartbeat touches the file's mtime every `lease / 4` seconds.
///
/// A lock is stale, and the next process that wants it takes it over, when
/// - its holder ran on this host (same host name) and that PID is gone, or the host rebooted since
///   (another boot id): decided at once;
/// - its holder ran on another host and the file has not changed for the holder's lease (recorded in
///   the file) *as measured by the waiting process's own clock* (so clocks of different nodes are never compared), or — for a
///   process that cannot wait — its mtime is more than two leases older than this host's clock.
/// A takeover renames the stale file away (atomic; only one of several racing processes wins it) and
/// checks that what it renamed is the file it judged stale before creating its own.
///
/// Released by `release()` (the file is removed) or when the object goes away. After a crash the file
/// stays until it is judged stale as above.
public final class LeaseLock: @unchecked Sendable {
    /// Who holds a lock (the file's JSON content).
    public struct Holder: Codable, Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var pid: Int32
        /// `/proc/sys/kernel/random/boot_id` of the holder's host.
        public var boot: String
        /// Random; tells a holder's own file from one that replaced it.
        public var token: String
        /// What the lock protects, for messages (e.g. "stage train-ddpm").
        public var purpose: String
        /// The holder's lease in seconds: others judge its heartbeat by this, not by their own lease.
        public var lease: Double?

        public var description: String { "\(purpose) held by host \(host) pid \(pid)" }
    }

    /// This process's identity as written into lock files.
    public struct Identity: Sendable, Equatable {
        public var host: String
        public var pid: Int32
        public var boot: String

        public init(host: String, pid: Int32, boot: String) {
            self.host = host; self.pid = pid; self.boot = boot
        }

        /// The host name is `$FAIRGEN_HOSTNAME` when set (tests simulate several nodes on one machine with
        /// it), otherwise `gethostname(2)`.
        public static var current: Identity {
            Identity(host: hostName, pid: getpid(), boot: bootID)
        }

        public static var hostName: String {
            if let name = ProcessInfo.processInfo.environment["FAIRGEN_HOSTNAME"], !name.isEmpty { return name }
            var buffer = [CChar](repeating: 0, count: 256)
            guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        static let bootID: String = {
            let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }()
    }

    /// Default lease: `$FAIRGEN_LOCK_LEASE` seconds when set (tests use a few seconds), else 60.
    public static var defaultLease: Double {
        if let text = ProcessInfo.processInfo.environment["FAIRGEN_LOCK_LEASE"], let value = Double(text), value > 0 {
            return value
        }
        return 60
    }

    /// The lock file.
    public let path: String
    /// What this process wrote into it.
    public let holder: Holder
    public let lease: Double
    private let state = NSLock()
    private var released = false
    private var lost = false
    private var timer: DispatchSourceTimer?

    private init(path: String, holder: Holder, lease: Double) {
        self.path = path
        self.holder = holder
        self.lease = lease
    }

    deinit { release() }

    /// True once a heartbeat found the file gone or replaced (the lock was judged stale and taken over,
    /// e.g. after this process hung for longer than the lease).
    public var isLost: Bool { state.lock(); defer { state.unlock() }; return lost }

    /// Takes the lock at `path`, waiting up to `wait` seconds (nil: as long as it takes; 0: not at all).
    /// `onWait` is called once with the current holder when the lock is busy. Throws a `.locked`
    /// `StoreError` naming the holder on timeout.
    public static func acquire(_ path: String, purpose: String, lease: Double = LeaseLock.defaultLease,
                               wait: Double?, identity: Identity = .current,
                               onWait: (Holder?) -> Void = { _ in }) throws -> LeaseLock {
        let holder = Holder(host: identity.host, pid: identity.pid, boot: identity.boot,
                            token: randomToken(), purpose: purpose, lease: lease)
        let bytes = Array(try JSONEncoder().encode(holder)) + [0x0a]
        let start = Date()
        var watched: (ino: UInt64, mtime: Int64, since: Date)?
        var told = false
        while true {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
                let ok = written == bytes.count && fsync(fd) == 0
                close(fd)
                guard ok else {
                    unlink(path)
                    throw FileIO.ioError("write lock file", path)
                }
                let lock = LeaseLock(path: path, holder: holder, lease: lease)
                lock.startHeartbeat()
                return lock
            }
            let code = errno
            guard code == EEXIST else {
                if code == ENOENT { try FileIO.makeDirectories((path as NSString).deletingLastPathComponent); continue }
                throw FileIO.ioError("create lock file", path, code)
            }
            var st = stat()
            guard stat(path, &st) == 0 else { continue }          // released meanwhile: try again
            let current = readHolder(path)
            let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            let ino = UInt64(st.st_ino)
            if watched == nil || watched!.ino != ino || watched!.mtime != mtime {
                watched = (ino, mtime, Date())
            }
            let unchangedFor = Date().timeIntervalSince(watched!.since)
            let ageByOurClock = Date().timeIntervalSince1970 - (Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
            if isStale(current, identity: identity, unchangedFor: unchangedFor, ageByOurClock: ageByOurClock, lease: lease) {
                takeOver(path, ino: ino, token: current?.token)
                watched = nil
                continue
            }
            if !told { onWait(current); told = true }
            if let wait, Date().timeIntervalSince(start) >= wait {
                let who = current.map(\.description) ?? "lock \(path) held by a process that has not written its name yet"
                let waited = wait > 0 ? " after waiting \(Int(wait)) s" : ""
                throw StoreError(.locked, "\(who) (lock file \(path))\(waited)")
            }
            usleep(100_000)
        }
    }

    /// The stale rule of the type's documentation.
    static func isStale(_ holder: Holder?, identity: Identity, unchangedFor: Double, ageByOurClock: Double,
                        lease: Double) -> Bool {
        if let holder, holder.host == identity.host {
            if !holder.boot.isEmpty, !identity.boot.isEmpty, holder.boot != identity.boot { return true }
            return kill(holder.pid, 0) != 0 && errno == ESRCH
        }
        // Another host (or a file whose content is not written yet / torn): only its heartbeat tells,
        // judged by the lease the holder beats for.
        let lease = holder?.lease.flatMap { $0 > 0 ? $0 : nil } ?? lease
        return unchangedFor >= lease || ageByOurClock >= 2 * lease
    }

    /// Moves the stale file at `path` aside and removes it, unless what was moved is not the file that
    /// was judged (another process took it over first and created a fresh lock): that one is put back.
    static func takeOver(_ path: String, ino: UInt64, token: String?) {
        let aside = path + ".stale-" + randomToken()
        guard rename(path, aside) == 0 else { return }
        var st = stat()
        let sameFile = stat(aside, &st) == 0 && UInt64(st.st_ino) == ino && readHolder(aside)?.token == token
        if !sameFile {
            // Not ours to break: restore it (link fails if yet another lock appeared; that holder wins
            // and the one restored here sees its lock lost at its next heartbeat).
            _ = link(aside, path)
        }
        unlink(aside)
    }

    /// The holder recorded in a lock file, if it can be read.
    public static func readHolder(_ path: String) -> Holder? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(Holder.self, from: data)
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max, using: &generator)) }.joined()
    }

    private func startHeartbeat() {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        let interval = max(lease / 4, 0.05)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.beat() }
        self.timer = timer
        timer.resume()
    }

    /// Touches the file (its mtime is the heartbeat other hosts watch) after checking it is still ours.
    private func beat() {
        state.lock(); defer { state.unlock() }
        guard !released, !lost else { return }
        guard LeaseLock.readHolder(path)?.token == holder.token else {
            lost = true
            return
        }
        _ = utimensat(AT_FDCWD, path, nil, 0)
    }

    /// Releases the lock (idempotent): stops the heartbeat and removes the file if it is still ours.
    public func release() {
        state.lock()
        let wasReleased = released
        released = true
        let timer = self.timer
        self.timer = nil
        state.unlock()
        timer?.cancel()
        guard !wasReleased else { return }
        if LeaseLock.readHolder(path)?.token == holder.token { unlink(path) }
    }
}

extension Store {
    /// Takes the lease lock `locks/NAME` (see `LeaseLock`).
    public func leaseLock(_ name: String, purpose: String, wait: Double?, onWait: (LeaseLock.Holder?) -> Void = { _ in }) throws -> LeaseLock {
        try FileIO.makeDirectories(locksPath)
        return try LeaseLock.acquire(locksPath + "/" + name, purpose: purpose, wait: wait, onWait: onWait)
    }
}
