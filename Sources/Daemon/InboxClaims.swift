import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who may process a drop when several daemons (each with its own store) watch one inbox.
///
/// Before a daemon queues (or rejects) a drop it claims it in `inbox/.claims/<manifest>.claim`, a
/// small JSON file naming the owner: its store, PID and host, and the identities of the drop's files.
/// Claims are read and written under an exclusive `flock` on `inbox/.claims/.lock`, so of two daemons
/// that see the same drop at the same instant exactly one gets it; the other leaves it alone. The
/// owner removes its claim once the job has ended and the files have moved to `.processed/` or
/// `.failed/`.
///
/// The owner is identified by its store: a daemon that restarts on the same store finds its own claims
/// (and refreshes the PID). A claim is stale, and is taken over by the next daemon that wants the
/// drop, when its owner is gone — on this host, its PID no longer runs; on another host, the owner has
/// not refreshed the claim's mtime for `foreignHostTTL` — or when none of its files is still in the
/// inbox unchanged (a leftover of a crash after the files moved).
public enum InboxClaims {
    /// The claims folder inside the inbox (a dot-name: invisible to the drop scan).
    public static let folder = ".claims"
    /// The lock file serialising claim changes.
    static let lockName = ".lock"
    /// A claim from another host whose file was not refreshed for this long counts as stale.
    public static let foreignHostTTL: Double = 600
    /// How often an owner refreshes the mtime of its claims (well within `foreignHostTTL`).
    public static let refreshInterval: Double = 60

    /// The content of a claim file.
    public struct Claim: Codable, Sendable, Equatable {
        /// The manifest's file name in the inbox.
        public var manifest: String
        /// The drop's files (manifest and archive) with their identity when claimed.
        public var files: [String: FileIdentity]
        /// The owner's store root (absolute): what makes a claim "ours" across restarts.
        public var store: String
        public var pid: Int32
        public var host: String
        /// ISO 8601 UTC.
        public var time: String
    }

    /// The daemon asking: its store root and, for liveness checks by others, its PID and host.
    public struct Owner: Sendable, Equatable {
        public var store: String
        public var pid: Int32
        public var host: String

        public init(store: String, pid: Int32 = getpid(), host: String = InboxClaims.hostName) {
            self.store = URL(fileURLWithPath: store).standardizedFileURL.path
            self.pid = pid
            self.host = host
        }
    }

    /// What `claim` decided.
    public enum Outcome: Sendable, Equatable {
        /// The drop is ours (newly, or already); `tookOver` is the stale claim replaced, if any.
        case claimed(tookOver: Claim?)
        /// A live daemon of another store holds it: leave the drop alone.
        case heldBy(Claim)
    }

    /// This machine's host name.
    public static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        return gethostname(&buffer, buffer.count) == 0 ? String(cString: buffer) : "localhost"
    }()

    /// The claim file of a manifest. Names too long to take a suffix are replaced by their digest.
    public static func path(inbox: String, manifest: String) -> String {
        let name = manifest.utf8.count <= 240 ? manifest : SHA256Digest.hex(Data(manifest.utf8))
        return inbox + "/" + folder + "/" + name + ".claim"
    }

    /// Reads a claim; nil when there is none (or it is unreadable, e.g. a torn write by an old crash).
    public static func read(inbox: String, manifest: String) -> Claim? {
        guard let data = FileManager.default.contents(atPath: path(inbox: inbox, manifest: manifest)) else { return nil }
        return try? JSONDecoder().decode(Claim.self, from: data)
    }

    /// Claims the drop `files` (name → identity, including `manifest`) for `owner`.
    public static func claim(inbox: String, manifest: String, files: [String: FileIdentity], owner: Owner,
                             now: Date = Date()) throws -> Outcome {
        try withLock(inbox: inbox) {
            let file = path(inbox: inbox, manifest: manifest)
            var replaced: Claim?
            if let existing = read(inbox: inbox, manifest: manifest), existing.store != owner.store {
                if isLive(existing, inbox: inbox, file: file, host: owner.host, now: now.timeIntervalSince1970) {
                    return .heldBy(existing)
                }
                replaced = existing
            }
            let claim = Claim(manifest: manifest, files: files, store: owner.store, pid: owner.pid, host: owner.host,
                              time: FileOps.isoUTC(now))
            try FileOps.writeAtomically(try JobQueue.encoder.encode(claim), to: file)
            return .claimed(tookOver: replaced)
        }
    }

    /// Removes `owner`'s claim on `manifest` (the job ended, or the drop could not be queued). A claim
    /// held by another store is left alone.
    public static func release(inbox: String, manifest: String, owner: Owner) throws {
        guard FileOps.exists(path(inbox: inbox, manifest: manifest)) else { return }
        try withLock(inbox: inbox) {
            let file = path(inbox: inbox, manifest: manifest)
            guard let existing = read(inbox: inbox, manifest: manifest), existing.store == owner.store else { return }
            if unlink(file) != 0 && errno != ENOENT { throw FileOps.posixError("remove claim", file) }
            FileOps.syncDirectory(inbox + "/" + folder)
        }
    }

    /// Marks `owner`'s claim on `manifest` as alive (its mtime is what daemons on other hosts check).
    public static func refresh(inbox: String, manifest: String, owner: Owner) {
        let file = path(inbox: inbox, manifest: manifest)
        guard read(inbox: inbox, manifest: manifest)?.store == owner.store else { return }
        _ = utimensat(AT_FDCWD, file, nil, 0)
    }

    /// True when the claim still binds others: its owner runs and one of its files is still there.
    public static func isLive(_ claim: Claim, inbox: String, host: String = hostName,
                              now: Double = Date().timeIntervalSince1970) -> Bool {
        isLive(claim, inbox: inbox, file: path(inbox: inbox, manifest: claim.manifest), host: host, now: now)
    }

    static func isLive(_ claim: Claim, inbox: String, file: String, host: String, now: Double) -> Bool {
        let filesThere = claim.files.contains { FileOps.identity(inbox + "/" + $0.key) == $0.value }
        guard filesThere else { return false }
        if claim.host == host { return JobQueue.processAlive(claim.pid) }
        var st = stat()
        guard stat(file, &st) == 0 else { return false }
        return now - Double(st.st_mtim.tv_sec) < foreignHostTTL
    }

    /// Runs `body` holding the exclusive lock of the inbox's claims folder (created when missing).
    static func withLock<T>(inbox: String, _ body: () throws -> T) throws -> T {
        let directory = inbox + "/" + folder
        try FileOps.makeDirectory(directory)
        let lockPath = directory + "/" + lockName
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileOps.posixError("open claim lock", lockPath) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw FileOps.posixError("flock", lockPath) }
        }
        defer { _ = flock(fd, LOCK_UN) }
        return try body()
    }
}
