import Foundation

/// `fairgen reprocess (NAME | --all) [--if-stale]`: queue a new run per dataset with the manifest of
/// its latest run (cached stages are reused by the pipeline, so an unchanged reprocess is cheap).
///
/// Contract with the pipeline/store — each `store/datasets/NAME/vNNNN/run.json` holds (among others):
/// - `"manifest"`: the manifest the run used, either embedded as a JSON value (what `Store.RunRecord`
///   writes; the job then gets it as `NAME.json`) or as a string: the path of a byte-for-byte copy of
///   the manifest file, relative to the version folder or absolute;
/// - `"manifest_sha256"` (optional): hex SHA-256 of the manifest, used only when `"manifest"` is absent;
/// - `"code_version"`: `FairgenVersion.code` of the code that made the run;
/// - `"status"`: `"complete"` once the run finished (anything else otherwise).
/// `store/datasets/NAME/latest` is a symlink to (or a file naming) the newest version folder.
/// A manifest's fingerprint is the SHA-256 of the copied file's bytes, or of the embedded value
/// serialised as JSON with sorted keys.
public enum Reprocess {
    /// What happened for one dataset.
    public enum Decision: Sendable, Equatable {
        /// A job was queued.
        case queued(Job)
        /// `--if-stale`: the latest complete run already used this code and manifest.
        case upToDate(dataset: String, version: String)
        /// A reprocess job for the dataset is already waiting in `pending/`.
        case alreadyQueued(dataset: String, job: String)
        /// The dataset cannot be reprocessed (message names the file and what was expected).
        case rejected(dataset: String, message: String)
    }

    /// The keys of one `run.json` the daemon reads.
    public struct RunInfo: Sendable, Equatable {
        /// The version folder (e.g. `.../datasets/NAME/v0003`).
        public var folder: String
        /// `"manifest"` when it is a string: the path of the manifest file.
        public var manifest: String?
        /// `"manifest"` when it is embedded: its JSON with sorted keys.
        public var manifestJSON: Data?
        public var manifestSHA256: String?
        public var codeVersion: String?
        public var status: String?

        /// Absolute path of the run's manifest file, if recorded as a path.
        public var manifestPath: String? {
            guard let manifest else { return nil }
            return manifest.hasPrefix("/") ? manifest : folder + "/" + manifest
        }

        /// The manifest's fingerprint (see the contract above), or nil when nothing identifies it.
        public var manifestFingerprint: String? {
            if let manifestJSON { return SHA256Digest.hex(manifestJSON) }
            if let path = manifestPath, let data = try? FileOps.read(path) { return SHA256Digest.hex(data) }
            return manifestSHA256
        }
    }

    /// Names of the datasets in the store (folders under `store/datasets/`).
    public static func datasets(store: URL) -> [String] {
        let root = store.appendingPathComponent("datasets").path
        return FileOps.list(root).filter { !$0.hasPrefix(".") && FileOps.isDirectory(root + "/" + $0) }
    }

    /// Reads the keys of `folder/run.json`; the error names the file and what was expected.
    public static func readRun(folder: String) throws -> RunInfo {
        let file = folder + "/run.json"
        guard FileOps.exists(file) else { throw DaemonError("\(file): not found (no run recorded in this version)") }
        let data = try FileOps.read(file)
        guard let dict = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw DaemonError("\(file): expected a JSON object")
        }
        var embedded: Data?
        if let value = dict["manifest"], !(value is String), !(value is NSNull) {
            embedded = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
        }
        return RunInfo(folder: folder, manifest: dict["manifest"] as? String, manifestJSON: embedded,
                       manifestSHA256: dict["manifest_sha256"] as? String,
                       codeVersion: dict["code_version"] as? String, status: dict["status"] as? String)
    }

    /// The folder `latest` points to: a symlink's target, or a regular file holding a version name.
    public static func latestFolder(store: URL, dataset: String) throws -> String {
        let root = store.appendingPathComponent("datasets/" + dataset).path
        guard FileOps.isDirectory(root) else { throw DaemonError("dataset \(dataset): \(root) not found") }
        let latest = root + "/latest"
        if FileOps.isDirectory(latest) { return latest }
        if let text = try? String(contentsOfFile: latest, encoding: .utf8) {
            let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !name.isEmpty, !name.contains("/"), FileOps.isDirectory(root + "/" + name) { return root + "/" + name }
        }
        throw DaemonError("\(latest): not found; expected a link to the newest version folder (dataset \(dataset) has no run to reprocess)")
    }

    /// The newest version whose run.json says `"status": "complete"`, if any.
    public static func latestCompleteRun(store: URL, dataset: String) -> RunInfo? {
        let root = store.appendingPathComponent("datasets/" + dataset).path
        let versions = FileOps.list(root).filter { $0.hasPrefix("v") && Int($0.dropFirst()) != nil }
            .sorted { Int($0.dropFirst())! > Int($1.dropFirst())! }
        for version in versions {
            if let run = try? readRun(folder: root + "/" + version), run.status == "complete" { return run }
        }
        return nil
    }

    /// Why a dataset needs a new run with the manifest whose fingerprint is `manifestFingerprint`, or
    /// nil when its latest complete run used the same code version and manifest.
    public static func staleReason(store: URL, dataset: String, manifestFingerprint: String?) -> String? {
        guard let complete = latestCompleteRun(store: store, dataset: dataset) else { return "no complete run" }
        if complete.codeVersion != FairgenVersion.code {
            return "code version changed (\(complete.codeVersion ?? "none") → \(FairgenVersion.code))"
        }
        if manifestFingerprint == nil || complete.manifestFingerprint != manifestFingerprint { return "manifest changed" }
        return nil
    }

    /// Queues one reprocess job per dataset (all datasets in the store when `datasets` is nil).
    public static func enqueue(store: URL, datasets requested: [String]?, ifStale: Bool,
                               now: Date = Date()) throws -> [Decision] {
        let queue = try JobQueue(store: store)
        let names = requested ?? datasets(store: store)
        let waiting = queue.jobs(.pending).filter { $0.kind == .reprocess }
        var decisions: [Decision] = []
        for name in names {
            do {
                decisions.append(try enqueueOne(store: store, queue: queue, dataset: name, ifStale: ifStale,
                                                waiting: waiting, now: now))
            } catch {
                decisions.append(.rejected(dataset: name, message: "\(error)"))
            }
        }
        return decisions
    }

    private static func enqueueOne(store: URL, queue: JobQueue, dataset: String, ifStale: Bool,
                                   waiting: [Job], now: Date) throws -> Decision {
        guard ManifestKeys.isValidDatasetName(dataset) else {
            throw DaemonError("dataset name \"\(dataset)\": expected [a-z0-9][a-z0-9-]{0,63}")
        }
        if let job = waiting.first(where: { $0.dataset == dataset }) {
            return .alreadyQueued(dataset: dataset, job: job.id)
        }
        let folder = try latestFolder(store: store, dataset: dataset)
        let run = try readRun(folder: folder)
        let manifest: JobQueue.ManifestSource
        if let json = run.manifestJSON {
            manifest = .content(json, name: dataset + ".json")
        } else if let path = run.manifestPath {
            guard FileOps.identity(path) != nil else {
                throw DaemonError("\(path): not found (named by \(folder)/run.json key \"manifest\")")
            }
            manifest = .file(path)
        } else {
            throw DaemonError("\(folder)/run.json: key \"manifest\" missing; expected the run's manifest (a JSON value or a path)")
        }
        var note = "fairgen reprocess"
        if ifStale {
            guard let reason = staleReason(store: store, dataset: dataset, manifestFingerprint: run.manifestFingerprint) else {
                return .upToDate(dataset: dataset, version: URL(fileURLWithPath: folder).resolvingSymlinksInPath().lastPathComponent)
            }
            note += " --if-stale: \(reason)"
        }
        let job = try queue.enqueue(kind: .reprocess, dataset: dataset, manifest: manifest, archiveSource: nil,
                                    inbox: nil, inputs: [], note: note, now: now)
        return .queued(job)
    }
}
