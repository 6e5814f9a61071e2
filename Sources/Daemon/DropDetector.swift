import Datasets
import Foundation

/// What the inbox holds at one instant: visible regular files with their identity, and the parsed
/// keys of each manifest. Built by `scan` (I/O); consumed by `DropDetector` (pure).
public struct InboxSnapshot: Sendable {
    public var files: [String: FileIdentity]
    public var manifests: [String: Result<ManifestKeys, JobError>]

    public init(files: [String: FileIdentity], manifests: [String: Result<ManifestKeys, JobError>]) {
        self.files = files
        self.manifests = manifests
    }

    /// Manifests larger than this are rejected unread (the parser's own limit, `Manifest.maxManifestBytes`).
    public static let maxManifestBytes = Int64(Manifest.maxManifestBytes)

    /// Lists `directory`, skipping dot-names (`.processed`, `.failed`, `.x.part`) and non-regular files,
    /// and peeks into every manifest — reusing `previous`'s result for a manifest whose identity did
    /// not change, so a manifest waiting for its archive is not re-read every second.
    public static func scan(directory: String, previous: InboxSnapshot? = nil) -> InboxSnapshot {
        var snapshot = InboxSnapshot(files: [:], manifests: [:])
        for name in FileOps.list(directory) where !name.hasPrefix(".") {
            let path = directory + "/" + name
            guard let id = FileOps.identity(path) else { continue }
            snapshot.files[name] = id
            guard ManifestKeys.isManifestName(name) else { continue }
            if let previous, previous.files[name] == id, let parsed = previous.manifests[name] {
                snapshot.manifests[name] = parsed
                continue
            }
            guard id.size <= maxManifestBytes else {
                snapshot.manifests[name] = .failure(JobError(
                    stage: "inbox", message: "\(name): \(id.size) bytes; expected a manifest of at most \(maxManifestBytes >> 10) KiB"))
                continue
            }
            do {
                let data = try FileOps.read(path)
                snapshot.manifests[name] = .success(try ManifestKeys.read(data, fileName: name))
            } catch let error as JobError {
                snapshot.manifests[name] = .failure(error)
            } catch {
                snapshot.manifests[name] = .failure(JobError(stage: "inbox", message: "\(error)"))
            }
        }
        return snapshot
    }
}

/// A complete drop: a settled manifest and (for an ingest) the settled archive it names.
public struct Drop: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Manifest + archive: a new dataset version from new data.
        case ingest
        /// Manifest only, for a dataset already in the store: a new run with this manifest.
        case reprocess
    }
    public var kind: Kind
    /// The dataset name (`name:` of the manifest).
    public var dataset: String
    /// The manifest's file name in the inbox.
    public var manifest: String
    /// The archive's file name in the inbox (ingest only).
    public var archive: String?
    /// Identity of every input file at detection time (file name → identity).
    public var files: [String: FileIdentity]
}

/// One decision of the detector.
public enum DropDecision: Sendable, Equatable {
    /// A complete drop to enqueue.
    case ready(Drop)
    /// A settled manifest that can never become a valid drop; move it to `.failed/` with this error.
    case rejected(manifest: String, files: [String: FileIdentity], error: JobError)
    /// A settled manifest whose archive has not arrived (reported once per manifest version).
    case waiting(manifest: String, archive: String)
}

/// Decides when drops are complete (DESIGN §4): the manifest and the archive it names are both present
/// and neither changed (size, mtime, inode) for `settle` seconds, or both arrived by rename. Pure logic:
/// the caller supplies snapshots, inotify events and the time, so tests drive it with a fake clock.
public struct DropDetector: Sendable {
    /// Settle period in seconds.
    public var settle: Double

    struct Tracked: Sendable {
        var identity: FileIdentity
        var stableSince: Double
        var renamedIn: Bool
    }
    private var tracked: [String: Tracked] = [:]
    /// Names reported by `IN_MOVED_TO` and not yet seen by a snapshot.
    private var renamedIn: Set<String> = []
    /// File versions already handed out (queued, processed or rejected); never handed out twice.
    private var claimed: [String: FileIdentity] = [:]
    private var waitingReported: [String: FileIdentity] = [:]

    public init(settle: Double) {
        self.settle = settle
    }

    /// Records inotify events; a renamed-in file counts as complete without settling.
    public mutating func observe(_ events: [InboxWatcher.Event]) {
        for event in events where event.kind == .movedIn { renamedIn.insert(event.name) }
    }

    /// Marks file versions as taken (by a queued job), so they are not reported again.
    public mutating func claim(_ files: [String: FileIdentity]) {
        for (name, id) in files { claimed[name] = id }
    }

    /// Forgets claims (a drop that could not be queued is offered again).
    public mutating func unclaim(_ names: [String]) {
        for name in names { claimed[name] = nil }
    }

    /// True when some file seen in the last snapshot has not settled yet at `now`.
    public func hasUnsettled(now: Double) -> Bool {
        tracked.keys.contains { !isSettled($0, now: now) }
    }

    /// True when `name` is settled at `now`.
    func isSettled(_ name: String, now: Double) -> Bool {
        guard let t = tracked[name] else { return false }
        return t.renamedIn || now - t.stableSince >= settle
    }

    /// Updates the settle state from `snapshot` at time `now` (seconds since 1970, the clock of file
    /// mtimes) and returns the drops that became complete or invalid. `datasetExists` says whether a
    /// dataset is already in the store (manifest-only drops reprocess it).
    public mutating func update(snapshot: InboxSnapshot, now: Double,
                                datasetExists: (String) -> Bool) -> [DropDecision] {
        for (name, id) in snapshot.files {
            if let old = tracked[name], old.identity == id {
                if renamedIn.contains(name) { tracked[name]?.renamedIn = true }
            } else {
                // New or changed: stable since its mtime if that is in the past (a file that arrived
                // while the daemon was down), else from now.
                let since = tracked[name] == nil ? min(now, id.mtime) : now
                tracked[name] = Tracked(identity: id, stableSince: since, renamedIn: renamedIn.contains(name))
            }
            renamedIn.remove(name)
        }
        for name in tracked.keys where snapshot.files[name] == nil { tracked[name] = nil }
        for name in claimed.keys where snapshot.files[name] == nil { claimed[name] = nil }
        for name in waitingReported.keys where snapshot.files[name] == nil { waitingReported[name] = nil }

        var decisions: [DropDecision] = []
        for manifest in snapshot.manifests.keys.sorted() {
            guard let parsed = snapshot.manifests[manifest], let mid = snapshot.files[manifest],
                  isSettled(manifest, now: now) else { continue }
            if let decision = decide(manifest: manifest, identity: mid, parsed: parsed, snapshot: snapshot,
                                     now: now, datasetExists: datasetExists) {
                decisions.append(decision)
            }
        }
        return decisions
    }

    private mutating func decide(manifest: String, identity mid: FileIdentity,
                                 parsed: Result<ManifestKeys, JobError>, snapshot: InboxSnapshot,
                                 now: Double, datasetExists: (String) -> Bool) -> DropDecision? {
        let own = [manifest: mid]
        let keys: ManifestKeys
        switch parsed {
        case .failure(let error):
            return reject(manifest, own, error)
        case .success(let k):
            keys = k
        }
        // `name` and `archive` passed the manifest validation (dataset-name pattern, plain file name).
        let dataset = keys.name, archive = keys.archive
        guard !archive.contains("/"), !archive.hasPrefix("."), archive != manifest else {
            return reject(manifest, own, JobError(
                stage: "inbox", message: "\(manifest): `archive` is \"\(archive)\"; expected a file name beside the manifest",
                hint: "no folders, no leading dot"))
        }
        guard let aid = snapshot.files[archive] else {
            if datasetExists(dataset) {
                return ready(Drop(kind: .reprocess, dataset: dataset, manifest: manifest, archive: nil, files: own))
            }
            if waitingReported[manifest] != mid {
                waitingReported[manifest] = mid
                return .waiting(manifest: manifest, archive: archive)
            }
            return nil
        }
        guard isSettled(archive, now: now) else { return nil }
        return ready(Drop(kind: .ingest, dataset: dataset, manifest: manifest, archive: archive,
                          files: [manifest: mid, archive: aid]))
    }

    private mutating func ready(_ drop: Drop) -> DropDecision? {
        if drop.files.allSatisfy({ claimed[$0.key] == $0.value }) { return nil }
        claim(drop.files)
        return .ready(drop)
    }

    private mutating func reject(_ manifest: String, _ files: [String: FileIdentity], _ error: JobError) -> DropDecision? {
        if files.allSatisfy({ claimed[$0.key] == $0.value }) { return nil }
        claim(files)
        return .rejected(manifest: manifest, files: files, error: error)
    }
}
