import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `Store.gc` removed (or, in a dry run, would remove).
public struct GCReport: Sendable {
    public var dryRun: Bool
    /// Objects no run, key or run file references.
    public var removedObjects: [ObjectID] = []
    public var removedBytes: Int64 = 0
    /// Objects kept because something references them.
    public var keptObjects = 0
    /// Entries of `tmp/` older than the age limit (left behind by crashed writers).
    public var removedTmp: [String] = []
}

extension Store {
    /// Removes objects that nothing references and stale temp files. Roots: every `keys/` record,
    /// every run.json (stage outputs and files) and every file in a run folder. Refuses to run when
    /// any key file or run.json cannot be read (it could reference objects). Call it with the store
    /// lock held exclusively, so no writer is between putting an object and recording it.
    public func gc(dryRun: Bool, tmpMaxAge: TimeInterval = 3600, now: Date = Date()) throws -> GCReport {
        var report = GCReport(dryRun: dryRun)
        let (ids, _) = try objects.listAll()
        var inodes: [FileIdentity: ObjectID] = [:]
        for id in ids { if let st = FileIO.lstat(objects.filePath(id)) { inodes[FileIdentity(st)] = id } }

        var roots = Set<ObjectID>()
        for (_, _, path) in try allKeyFiles() {
            guard let outputs = try? Store.parseKeyFile(FileIO.readFile(path)) else {
                throw StoreError(.corrupt, "gc refused: key file \(path) is unreadable; run `fairgen store verify`")
            }
            roots.formUnion(outputs.values)
        }
        let scan = try scanDatasets(inodes: inodes)
        if let (path, _) = scan.problems.first(where: { $0.0.hasSuffix("/run.json") }) {
            throw StoreError(.corrupt, "gc refused: \(path) is missing or unreadable; run `fairgen store verify`")
        }
        for (_, _, _, record) in scan.runs { roots.formUnion(record.referencedObjects) }
        for link in scan.links { if case .success(let id) = link.object { roots.insert(id) } }

        for id in ids {
            if roots.contains(id) { report.keptObjects += 1; continue }
            let path = objects.filePath(id)
            report.removedObjects.append(id)
            report.removedBytes += objects.size(of: id) ?? 0
            if !dryRun && unlink(path) != 0 && errno != ENOENT { throw FileIO.ioError("unlink", path) }
        }

        for name in try FileIO.list(tmpPath) {
            let path = tmpPath + "/" + name
            guard let st = FileIO.lstat(path) else { continue }
            let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            guard now.timeIntervalSince1970 - modified > tmpMaxAge else { continue }
            report.removedTmp.append(path)
            if !dryRun { try? FileManager.default.removeItem(atPath: path) }
        }
        return report
    }
}
