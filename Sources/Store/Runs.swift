import Foundation
import Text
#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// Versioned dataset runs: `datasets/NAME/v0001/run.json` plus links to objects, and
/// `datasets/NAME/latest` → the newest version. Writers hold the store lock (see `lockStore`).
extension Store {
    /// Folder name of a version: `v0001`.
    public static func versionName(_ version: Int) -> String { String(format: "v%04d", version) }

    /// Parses `v0001` (or `v1`) into 1.
    public static func parseVersion(_ text: String) -> Int? {
        guard text.hasPrefix("v"), text.count > 1, let n = Int(text.dropFirst()), n > 0,
              text.dropFirst().allSatisfy(\.isASCII) else { return nil }
        return n
    }

    func datasetPath(_ name: String) -> String { datasetsPath + "/" + name }
    func runPath(_ name: String, _ version: Int) -> String { datasetPath(name) + "/" + Store.versionName(version) }

    /// The folder of a run.
    public func runDirectory(dataset: String, version: Int) -> URL { URL(fileURLWithPath: runPath(dataset, version)) }

    /// Dataset names present in the store, sorted.
    public func datasetNames() throws -> [String] {
        try FileIO.list(datasetsPath).filter { (try? Store.validateDatasetName($0)) != nil && FileIO.isDirectory(datasetPath($0)) }
    }

    /// Versions of a dataset, ascending.
    public func versions(of dataset: String) throws -> [Int] {
        try Store.validateDatasetName(dataset)
        return try FileIO.list(datasetPath(dataset)).compactMap { name in
            guard let v = Store.parseVersion(name), name == Store.versionName(v),
                  FileIO.isDirectory(datasetPath(dataset) + "/" + name) else { return nil }
            return v
        }.sorted()
    }

    /// The version `latest` points to, or nil.
    public func latestVersion(of dataset: String) throws -> Int? {
        try Store.validateDatasetName(dataset)
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: datasetPath(dataset) + "/latest") else { return nil }
        return Store.parseVersion(target)
    }

    /// Reads a run's run.json.
    public func runRecord(dataset: String, version: Int) throws -> RunRecord {
        try Store.validateDatasetName(dataset)
        let path = runPath(dataset, version) + "/run.json"
        guard FileIO.exists(path) else {
            throw StoreError(.notFound, "run \(dataset)/\(Store.versionName(version)) not found (\(path))")
        }
        do { return try RunRecord.decode(FileIO.readFile(path)) } catch let error as StoreError { throw error } catch {
            throw StoreError(.corrupt, "\(path): not a valid run.json (\(error))")
        }
    }

    /// Resolves `NAME`, `NAME/latest` or `NAME/vN` (`v3` or `v0003`) to an existing run.
    public func resolveRun(_ reference: String) throws -> (dataset: String, version: Int) {
        let parts = reference.split(separator: "/", maxSplits: 1).map(String.init)
        guard let name = parts.first else { throw StoreError(.invalid, "empty run reference: expected NAME or NAME/vN") }
        try Store.validateDatasetName(name)
        guard FileIO.isDirectory(datasetPath(name)) else {
            throw StoreError(.notFound, "dataset '\(name)' not found in store \(rootPath) (see `fairgen store ls`)")
        }
        let spec = parts.count > 1 ? parts[1] : "latest"
        let version: Int
        if spec == "latest" {
            guard let v = try latestVersion(of: name) ?? versions(of: name).last else {
                throw StoreError(.notFound, "dataset '\(name)' has no runs")
            }
            version = v
        } else {
            guard let v = Store.parseVersion(spec) else {
                throw StoreError(.invalid, "invalid version '\(spec)' in '\(reference)': expected vN (e.g. v1 or v0001) or latest")
            }
            version = v
        }
        guard FileIO.isDirectory(runPath(name, version)) else {
            throw StoreError(.notFound, "run \(name)/\(Store.versionName(version)) not found (versions: \(try versions(of: name).map(Store.versionName).joined(separator: ", ")))")
        }
        return (name, version)
    }

    /// Resolves `NAME/vN/path` or `NAME/latest/path` to a file of that run (run.json included).
    public func resolveRunFile(_ reference: String) throws -> URL {
        let parts = reference.split(separator: "/", maxSplits: 2).map(String.init)
        guard parts.count == 3 else {
            throw StoreError(.invalid, "invalid reference '\(reference)': expected an object id or NAME/vN/path")
        }
        let (name, version) = try resolveRun(parts[0] + "/" + parts[1])
        if parts[2] != "run.json" { _ = try RunHandle.validateRelativePath(parts[2]) }
        let path = runPath(name, version) + "/" + parts[2]
        guard FileIO.exists(path), !FileIO.isDirectory(path) else {
            throw StoreError(.notFound, "no file \(parts[2]) in run \(name)/\(Store.versionName(version)) (\(path))")
        }
        return URL(fileURLWithPath: path)
    }

    /// Starts a new run of `dataset`: allocates the next version folder (atomically, with mkdir),
    /// writes run.json with status `running` and moves `latest` to it.
    public func createRun(dataset: String, codeVersion: String = "", manifest: JSONValue = .null,
                          config: JSONValue = .null, blas: BLASInfo? = nil) throws -> RunHandle {
        try Store.validateDatasetName(dataset)
        try FileIO.makeDirectories(datasetPath(dataset))
        var version = (try versions(of: dataset).last ?? 0) + 1
        while mkdir(runPath(dataset, version), 0o755) != 0 {
            guard errno == EEXIST else { throw FileIO.ioError("mkdir", runPath(dataset, version)) }
            version += 1
        }
        try FileIO.fsyncDirectory(datasetPath(dataset))
        var record = RunRecord(dataset: dataset, version: version, created: Store.now(), codeVersion: codeVersion,
                               manifest: manifest, config: config)
        record.blas = blas
        let handle = RunHandle(store: self, record: record)
        try handle.write(record)
        try setLatest(dataset: dataset, version: version)
        return handle
    }

    /// Opens an existing run for updating (e.g. to mark a crashed run `interrupted`).
    public func openRun(dataset: String, version: Int) throws -> RunHandle {
        RunHandle(store: self, record: try runRecord(dataset: dataset, version: version))
    }

    /// Points `latest` at `version` unless it already points at a newer one. Atomic: a temp symlink
    /// is renamed over the old one, so readers see the old target or the new one.
    func setLatest(dataset: String, version: Int) throws {
        if let current = try latestVersion(of: dataset), current > version { return }
        let tmp = tmpPath + "/" + FileIO.uniqueName("latest")
        if symlink(Store.versionName(version), tmp) != 0 { throw FileIO.ioError("symlink", tmp) }
        do { try FileIO.rename(tmp, datasetPath(dataset) + "/latest") } catch {
            unlink(tmp)
            throw error
        }
        try FileIO.fsyncDirectory(datasetPath(dataset))
    }

    /// Current time rounded down to whole seconds (what ISO 8601 in run.json keeps).
    static func now() -> Date { Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)) }
}

/// A run being written. Every change rewrites run.json atomically (temp file, fsync, rename); once
/// the run is `complete` it is never rewritten.
public final class RunHandle {
    public let store: Store
    /// The last record written.
    public private(set) var record: RunRecord

    init(store: Store, record: RunRecord) {
        self.store = store
        self.record = record
    }

    public var dataset: String { record.dataset }
    public var version: Int { record.version }
    /// `datasets/NAME/vNNNN`.
    public var directory: URL { store.runDirectory(dataset: dataset, version: version) }
    var directoryPath: String { store.runPath(dataset, version) }

    /// Set when several processes write this run.json at once (the coordinator and the stage jobs of a
    /// Slurm run, docs/cluster.md): each update then re-reads run.json under the lease lock
    /// `locks/run-NAME-vNNNN.lock`, so that no writer overwrites another's stage record.
    public var sharedWriters = false

    /// Applies `mutate` to the record and writes run.json. Fails on a complete run.
    public func update(_ mutate: (inout RunRecord) -> Void) throws {
        var lock: LeaseLock?
        if sharedWriters {
            lock = try store.leaseLock("run-\(dataset)-\(Store.versionName(version)).lock",
                                       purpose: "run.json of \(dataset)/\(Store.versionName(version))", wait: nil)
            record = try store.runRecord(dataset: dataset, version: version)
        }
        defer { lock?.release() }
        guard record.status != .complete else {
            throw StoreError(.immutable, "run \(dataset)/\(Store.versionName(version)) is complete and is never rewritten")
        }
        var next = record
        mutate(&next)
        next.dataset = record.dataset
        next.version = record.version
        try write(next)
    }

    func write(_ next: RunRecord) throws {
        try FileIO.atomicWrite(next.encoded(), to: directoryPath + "/run.json", tmpDirectory: store.tmpPath)
        record = next
    }

    /// Marks a stage running: records its key and inputs and the start time.
    public func stageStarted(_ name: String, key: StageKey, inputs: [String]) throws {
        try update { $0.stages[name] = StageRecord(key: key.hex, inputs: inputs, started: Store.now(), status: .running) }
    }

    /// Marks a stage finished (`complete`, `cached` or `failed`) with its outputs, wall time and the
    /// process's peak RSS so far.
    public func stageFinished(_ name: String, outputs: [String: ObjectID], status: StageStatus,
                              wallSeconds: Double) throws {
        try update { r in
            var stage = r.stages[name] ?? StageRecord(key: "", inputs: [])
            stage.outputs = outputs
            stage.status = status
            stage.finished = Store.now()
            stage.wallSeconds = wallSeconds
            stage.peakRSSMB = ProcessStats.peakRSSMB()
            r.stages[name] = stage
        }
    }

    /// Makes `relativePath` (e.g. `checkpoints/ddpm.safetensors`) inside the run folder a link to the
    /// object (hard link; symlink when hard links are refused or the store is set up for symlinks)
    /// and records it in run.json. Linking the same object again is a no-op; a different one is refused.
    public func link(_ id: ObjectID, as relativePath: String) throws {
        let components = try RunHandle.validateRelativePath(relativePath)
        guard record.status != .complete else {
            throw StoreError(.immutable, "run \(dataset)/\(Store.versionName(version)) is complete and is never rewritten")
        }
        guard store.objects.exists(id) else { throw StoreError(.notFound, "object \(id.hex) not found; cannot link it as \(relativePath)") }
        if let existing = record.files[relativePath] {
            if existing == id { return }
            throw StoreError(.immutable, "\(directoryPath)/\(relativePath) already links object \(existing.hex)")
        }
        let target = directoryPath + "/" + relativePath
        let parent = (target as NSString).deletingLastPathComponent
        try FileIO.makeDirectories(parent)
        if FileIO.exists(target) {
            throw StoreError(.immutable, "\(target) already exists and is not recorded in run.json")
        }
        try store.makeObjectLink(id, at: target, depth: components.count + 2)  // run folder → dataset folder → datasets/ → root
        try FileIO.fsyncDirectory(parent)
        try update { $0.files[relativePath] = id }
    }

    /// Stores bytes as an object and links them as `relativePath` (for metrics.json, report.html, …).
    @discardableResult
    public func put(_ bytes: [UInt8], as relativePath: String) throws -> ObjectID {
        let id = try store.objects.put(bytes)
        try link(id, as: relativePath)
        return id
    }

    /// Marks the run complete; after this, run.json is never rewritten.
    public func complete() throws {
        try update { $0.status = .complete; $0.finished = Store.now() }
    }

    /// Marks the run failed with a one-line reason.
    /// `message` is stored rendered with `UntrustedText.terminal` (it may quote drop content).
    public func fail(_ message: String) throws {
        try update { $0.status = .failed; $0.finished = Store.now(); $0.error = UntrustedText.terminal(message) }
    }

    /// Marks a run that was `running` when its process died (daemon recovery).
    public func markInterrupted() throws {
        try update { $0.status = .interrupted; $0.finished = Store.now() }
    }

    /// Checks a run-relative path: relative, `/`-separated, no empty, `.` or `..` components, no NUL,
    /// not `run.json` or `latest`. Returns its components.
    static func validateRelativePath(_ path: String) throws -> [Substring] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let bad = path.isEmpty || path.hasPrefix("/") || path.contains("\0") || path == "run.json"
            || parts.contains { $0.isEmpty || $0 == "." || $0 == ".." }
        if bad {
            throw StoreError(.invalid, "invalid run file path '\(path)': expected a relative path like checkpoints/ddpm.safetensors (no '..', not run.json)")
        }
        return parts
    }
}

/// Process resource figures recorded per stage.
public enum ProcessStats {
    /// Peak resident set size of this process so far, in MiB (getrusage; Linux reports KiB).
    public static func peakRSSMB() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Double(usage.ru_maxrss) / 1024
    }
}

extension Store {
    /// Creates `target` (which must not exist) as a link to object `id`: a hard link, or a relative
    /// symlink when the store uses symlinks or the file system refuses hard links. `depth` is the number
    /// of folders between `target`'s folder and the store root.
    func makeObjectLink(_ id: ObjectID, at target: String, depth: Int) throws {
        let objectPath = objects.filePath(id)
        if linkStyle == .hardLink {
            if Glibc.link(objectPath, target) == 0 { return }
            if ![EXDEV, EPERM, EOPNOTSUPP, EMLINK].contains(errno) { throw FileIO.ioError("link \(objectPath) to", target) }
        }
        let relative = String(repeating: "../", count: depth) + "objects/sha256/" + id.hex.prefix(2) + "/" + id.hex.dropFirst(2)
        if symlink(relative, target) != 0 { throw FileIO.ioError("symlink", target) }
    }
}
