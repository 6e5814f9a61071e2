import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `Store.verify()` found.
public struct VerifyReport: Sendable {
    /// One inconsistency, naming the object or file.
    public struct Problem: Sendable, CustomStringConvertible {
        /// The file or object path concerned.
        public let path: String
        /// What is wrong, in one line (starts with the object id when an object is at fault).
        public let message: String
        public var description: String { "\(message) (\(path))" }
    }
    public var objectsChecked = 0
    public var bytesChecked: Int64 = 0
    public var referencesChecked = 0
    public var problems: [Problem] = []
    /// True when nothing is wrong.
    public var ok: Bool { problems.isEmpty }
}

/// A file inside a run folder and the object it stands for.
struct RunFileLink {
    let dataset: String
    let version: Int
    /// Run-relative path (`checkpoints/ddpm.safetensors`).
    let relativePath: String
    let path: String
    /// The object this file is (by inode, symlink target, or content), or why it is none.
    let object: Result<ObjectID, StoreError>
}

extension Store {
    /// Re-hashes every object (streaming) and checks every reference: stage outputs and linked files
    /// in each run.json, every `keys/` record, every file in `datasets/` (must be a link to an
    /// existing object) and every `latest` link. Problems are collected, not thrown.
    public func verify() throws -> VerifyReport {
        var report = VerifyReport()
        func problem(_ path: String, _ message: String) { report.problems.append(.init(path: path, message: message)) }

        // 1. Objects: the name must be the hash of the content.
        let (ids, strays) = try objects.listAll()
        for stray in strays { problem(stray, "unexpected file in objects/: its name is not an object id") }
        var inodes: [FileIdentity: ObjectID] = [:]
        var present = Set<ObjectID>()
        for id in ids {
            let path = objects.filePath(id)
            guard let st = FileIO.lstat(path), (st.st_mode & S_IFMT) == S_IFREG else {
                problem(path, "object \(id.hex): not a regular file")
                continue
            }
            present.insert(id)
            inodes[FileIdentity(st)] = id
            report.objectsChecked += 1
            do {
                let (actual, size) = try Digests.sha256(fileAt: path)
                report.bytesChecked += size
                if actual != id { problem(path, "object \(id.hex): content hash is \(actual.hex) (corrupted)") }
            } catch {
                problem(path, "object \(id.hex): cannot be read: \(error)")
            }
        }
        func checkReference(_ id: ObjectID, from path: String, _ what: String) {
            report.referencesChecked += 1
            if !present.contains(id) { problem(path, "object \(id.hex) is missing (referenced by \(what))") }
        }

        // 2. The run-cache.
        for (stage, name, path) in try allKeyFiles() {
            if (try? Store.validateStageName(stage)) == nil || StageKey(name)?.hex != name {
                problem(path, "unexpected file in keys/: expected keys/<stage>/<64 hex digits>")
                continue
            }
            guard let outputs = try? Store.parseKeyFile(FileIO.readFile(path)) else {
                problem(path, "key file is unreadable: expected an object id or a JSON object of ids")
                continue
            }
            for (output, id) in outputs.sorted(by: { $0.key < $1.key }) {
                checkReference(id, from: path, "stage key \(stage)/\(name.prefix(12)) output '\(output)'")
            }
        }

        // 3. Runs and their files.
        let scan = try scanDatasets(inodes: inodes)
        for (path, message) in scan.problems { problem(path, message) }
        for (dataset, version, path, record) in scan.runs {
            let runName = "\(dataset)/\(Store.versionName(version))"
            if record.dataset != dataset || record.version != version {
                problem(path, "run.json names \(record.dataset)/\(Store.versionName(record.version)), but sits in \(runName)")
            }
            for (stage, entry) in record.stages.sorted(by: { $0.key < $1.key }) {
                for (output, id) in entry.outputs.sorted(by: { $0.key < $1.key }) {
                    checkReference(id, from: path, "run \(runName) stage \(stage) output '\(output)'")
                }
            }
            let onDisk = scan.links.filter { $0.dataset == dataset && $0.version == version }
            let byPath = Dictionary(onDisk.map { ($0.relativePath, $0) }, uniquingKeysWith: { a, _ in a })
            for (relative, id) in record.files.sorted(by: { $0.key < $1.key }) {
                checkReference(id, from: path, "run \(runName) file \(relative)")
                guard let link = byPath[relative] else {
                    problem((path as NSString).deletingLastPathComponent + "/" + relative, "run \(runName): file \(relative) is recorded in run.json but missing")
                    continue
                }
                if case .success(let actual) = link.object, actual != id {
                    problem(link.path, "run \(runName): file \(relative) is object \(actual.hex), run.json says \(id.hex)")
                }
            }
            for link in onDisk where record.files[link.relativePath] == nil {
                problem(link.path, "run \(runName): file \(link.relativePath) is not recorded in run.json")
            }
        }
        for link in scan.links {
            report.referencesChecked += 1
            if case .failure(let error) = link.object { problem(link.path, error.message) }
        }
        return report
    }

    /// Walks `datasets/`: parses every run.json, resolves every other file to the object it links
    /// to, checks `latest`. Shared by verify (which reports) and gc (which must not delete anything
    /// these reference).
    func scanDatasets(inodes: [FileIdentity: ObjectID]) throws
        -> (runs: [(String, Int, String, RunRecord)], links: [RunFileLink], problems: [(String, String)])
    {
        var runs: [(String, Int, String, RunRecord)] = []
        var links: [RunFileLink] = []
        var problems: [(String, String)] = []
        for name in try FileIO.list(datasetsPath) {
            let dir = datasetPath(name)
            guard (try? Store.validateDatasetName(name)) != nil, FileIO.isDirectory(dir) else {
                problems.append((dir, "unexpected entry in datasets/: expected a dataset folder named [a-z0-9-]+"))
                continue
            }
            for entry in try FileIO.list(dir) {
                let path = dir + "/" + entry
                if entry == "experiments", FileIO.isDirectory(path) { continue }   // sweep results, not objects
                if entry == "latest" {
                    let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
                    if Store.parseVersion(target) == nil || !FileIO.isDirectory(dir + "/" + target) {
                        problems.append((path, "dataset \(name): latest points to '\(target)', which is not a version folder"))
                    }
                    continue
                }
                guard let version = Store.parseVersion(entry), entry == Store.versionName(version), FileIO.isDirectory(path) else {
                    problems.append((path, "unexpected entry in dataset \(name): expected vNNNN folders and latest"))
                    continue
                }
                let runJSON = path + "/run.json"
                do {
                    runs.append((name, version, runJSON, try RunRecord.decode(FileIO.readFile(runJSON))))
                } catch {
                    problems.append((runJSON, "run \(name)/\(entry): run.json is missing or unreadable"))
                }
                for relative in try Store.walkFiles(path) where relative != "run.json" {
                    let file = path + "/" + relative
                    links.append(RunFileLink(dataset: name, version: version, relativePath: relative, path: file,
                                             object: resolveRunFile(file, inodes: inodes)))
                }
            }
        }
        return (runs, links, problems)
    }

    /// The object a run file stands for: a symlink into objects/, a hard link (same inode as an
    /// object) or, failing both (e.g. a store copied with `cp -r`), a file whose content hash is an
    /// existing object.
    func resolveRunFile(_ path: String, inodes: [FileIdentity: ObjectID]) -> Result<ObjectID, StoreError> {
        guard let st = FileIO.lstat(path) else { return .failure(StoreError(.notFound, "\(path) vanished")) }
        if (st.st_mode & S_IFMT) == S_IFLNK {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else {
                return .failure(StoreError(.corrupt, "unreadable symlink \(path)"))
            }
            let resolved = URL(fileURLWithPath: target, relativeTo: URL(fileURLWithPath: (path as NSString).deletingLastPathComponent))
                .standardizedFileURL.path
            let prefix = objects.root + "/"
            let tail = resolved.hasPrefix(prefix) ? String(resolved.dropFirst(prefix.count)) : ""
            let parts = tail.split(separator: "/")
            guard parts.count == 2, let id = ObjectID(parts.joined()), id.hex == parts.joined() else {
                return .failure(StoreError(.corrupt, "\(path) is a symlink to \(target), which is not a store object"))
            }
            guard FileIO.exists(objects.filePath(id)) else {
                return .failure(StoreError(.corrupt, "dangling link: \(path) points to missing object \(id.hex)"))
            }
            return .success(id)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            return .failure(StoreError(.corrupt, "\(path) is neither a file nor a link to an object"))
        }
        if let id = inodes[FileIdentity(st)] { return .success(id) }
        if let (id, _) = try? Digests.sha256(fileAt: path), objects.exists(id) { return .success(id) }
        return .failure(StoreError(.corrupt, "\(path) is not a link to any store object (its object was removed or the file was edited)"))
    }

    /// Run-relative paths of every non-directory entry under `dir`, sorted.
    static func walkFiles(_ dir: String, prefix: String = "") throws -> [String] {
        var out: [String] = []
        for name in try FileIO.list(dir) {
            let path = dir + "/" + name
            let relative = prefix.isEmpty ? name : prefix + "/" + name
            if let st = FileIO.lstat(path), (st.st_mode & S_IFMT) == S_IFDIR {
                out += try walkFiles(path, prefix: relative)
            } else {
                out.append(relative)
            }
        }
        return out
    }
}

/// (device, inode): identifies the file a hard link shares with an object.
struct FileIdentity: Hashable {
    let device: UInt64
    let inode: UInt64
    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}

/// What `Store.repair()` changed.
public struct RepairReport: Sendable {
    /// Objects whose bytes no longer hashed to their id (deleted; the next run that needs one recomputes it).
    public var removedObjects: [ObjectID] = []
    /// Stage-key files removed because they were unreadable or named a missing object (the stage runs again).
    public var removedKeys: [String] = []
    /// Run files restored as links to the object their run.json names.
    public var relinked: [String] = []
    /// True when nothing needed repairing.
    public var isEmpty: Bool { removedObjects.isEmpty && removedKeys.isEmpty && relinked.isEmpty }
}

extension Store {
    /// Repairs what can be repaired without recomputing anything (`fairgen store verify --repair`,
    /// docs/store.md "Integrity"). Call it with the store lock held exclusively.
    ///
    /// 1. Every object is re-hashed; one whose bytes do not match its id is deleted (it can only
    ///    mislead: a cache hit would hand it to a stage).
    /// 2. Stage keys that are unreadable or name a missing object are deleted, so the stage runs again.
    /// 3. Every run file that run.json records is checked: when it is missing or is not the recorded
    ///    object (e.g. a hard link to a deleted corrupt inode) and that object is present and intact,
    ///    it is replaced by a fresh link (atomically: link under a temp name, rename over).
    ///
    /// Objects that are still missing afterwards must be recomputed: re-run `fairgen ingest` or
    /// `fairgen reprocess` for the dataset (stages are deterministic, so the objects come back under
    /// the same ids), then run the repair again to relink older runs' files.
    public func repair() throws -> RepairReport {
        var report = RepairReport()
        let (ids, _) = try objects.listAll()
        for id in ids {
            let path = objects.filePath(id)
            guard let st = FileIO.lstat(path), (st.st_mode & S_IFMT) == S_IFREG else { continue }
            if objects.isIntact(id) { continue }
            if unlink(path) != 0 && errno != ENOENT { throw FileIO.ioError("unlink", path) }
            report.removedObjects.append(id)
        }
        if !report.removedObjects.isEmpty {
            for fan in Set(report.removedObjects.map { String($0.hex.prefix(2)) }).sorted() {
                try FileIO.fsyncDirectory(objects.root + "/" + fan)
            }
        }

        for (_, _, path) in try allKeyFiles() {
            let outputs = try? Store.parseKeyFile(FileIO.readFile(path))
            if let outputs, outputs.values.allSatisfy(objects.exists) { continue }
            if unlink(path) != 0 && errno != ENOENT { throw FileIO.ioError("unlink", path) }
            report.removedKeys.append(path)
        }

        var inodes: [FileIdentity: ObjectID] = [:]
        for id in try objects.listAll().ids { if let st = FileIO.lstat(objects.filePath(id)) { inodes[FileIdentity(st)] = id } }
        let scan = try scanDatasets(inodes: inodes)
        for (dataset, version, _, record) in scan.runs {
            let runDir = runPath(dataset, version)
            for (relative, id) in record.files.sorted(by: { $0.key < $1.key }) {
                // run.json is data: its paths get the same checks as when they were linked.
                guard let components = try? RunHandle.validateRelativePath(relative) else { continue }
                let target = runDir + "/" + relative
                if FileIO.exists(target), case .success(let actual) = resolveRunFile(target, inodes: inodes), actual == id {
                    continue
                }
                // Step 1 left only intact objects (or non-files, which `inodes` does not list).
                guard let st = FileIO.lstat(objects.filePath(id)), (st.st_mode & S_IFMT) == S_IFREG else { continue }
                let parent = (target as NSString).deletingLastPathComponent
                try FileIO.makeDirectories(parent)
                let temporary = parent + "/." + FileIO.uniqueName("relink")
                try makeObjectLink(id, at: temporary, depth: components.count + 2)
                do { try FileIO.rename(temporary, target) } catch { unlink(temporary); throw error }
                try FileIO.fsyncDirectory(parent)
                report.relinked.append(target)
            }
        }
        return report
    }
}
