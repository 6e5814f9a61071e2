import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The on-disk job queue: `store/queue/{pending,running,done,failed}/<id>.json`, plus
/// `store/queue/work/<id>/` holding each job's copies of its input files.
///
/// Crash safety: every job file is written whole (temp + fsync + rename). Claiming (pending → running)
/// is one `rename(2)` of the job file, so two processes can never both claim a job; its content
/// (attempts, history) is rewritten afterwards. Ending a job (running → done/failed/pending) writes
/// the updated job into the destination folder — the commit point, so the state and its error or
/// summary land together — then removes the running copy; a job found in `running/` and in another
/// folder after a crash is resolved in favour of the other folder. After `kill -9`, `recover()` moves
/// jobs left in `running/` back to `pending/`.
public final class JobQueue: @unchecked Sendable {
    /// `store/queue`.
    public let root: String
    /// A job found in `running/` this many times after crashes is failed instead of retried, so a job
    /// that kills the daemon cannot stop the queue forever.
    public var maxRecoveries = 3

    /// Opens (creating when needed) the queue of the store at `store`.
    public init(store: URL) throws {
        root = store.appendingPathComponent("queue").path
        for state in Job.State.allCases { try FileOps.makeDirectory(folder(state)) }
        try FileOps.makeDirectory(root + "/work")
    }

    /// The store root (the folder holding `queue/`).
    public var storeRoot: String { URL(fileURLWithPath: root).deletingLastPathComponent().path }

    /// The folder of one state.
    public func folder(_ state: Job.State) -> String { root + "/" + state.rawValue }

    /// A job's work folder, holding copies of its inputs.
    public func workDirectory(_ id: String) -> String { root + "/work/" + id }

    func path(_ id: String, _ state: Job.State) -> String { folder(state) + "/" + id + ".json" }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }()

    /// Where a job's manifest comes from.
    public enum ManifestSource: Sendable {
        /// A file to copy (an inbox manifest, or a manifest file a run recorded).
        case file(String)
        /// Manifest bytes to write under `name` (a manifest embedded in run.json, written as JSON).
        case content(Data, name: String)
    }

    /// Copies the input files into a new work folder and writes the job into `pending/`.
    /// `manifestSource`/`archiveSource` are paths to copy; `inputs` are the inbox files whose identity
    /// must not change during the copy (else the half-copied job is discarded and an error thrown).
    @discardableResult
    public func enqueue(kind: Drop.Kind, dataset: String, manifestSource: String, archiveSource: String?,
                        inbox: String?, inputs: [Job.Input], note: String, now: Date = Date()) throws -> Job {
        try enqueue(kind: kind, dataset: dataset, manifest: .file(manifestSource), archiveSource: archiveSource,
                    inbox: inbox, inputs: inputs, note: note, now: now)
    }

    /// As above, with the manifest given as a file or as content.
    @discardableResult
    public func enqueue(kind: Drop.Kind, dataset: String, manifest: ManifestSource, archiveSource: String?,
                        inbox: String?, inputs: [Job.Input], note: String, now: Date = Date()) throws -> Job {
        let random = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        let id = "\(FileOps.compactUTC(now))-\(dataset)-\(random)"
        // Filled under a staging name that carries our PID, then renamed: a folder named after a job
        // always holds its owner file, so recovery can tell an orphan from one being queued.
        let work = workDirectory(id)
        let staging = root + "/work/" + FileOps.tempPrefix + "\(getpid())-" + id
        let manifestName: String
        switch manifest {
        case .file(let path): manifestName = URL(fileURLWithPath: path).lastPathComponent
        case .content(_, let name): manifestName = name
        }
        let archiveName = archiveSource.map { URL(fileURLWithPath: $0).lastPathComponent }
        do {
            try FileOps.makeDirectory(staging)
            try FileOps.writeAtomically(Data("\(getpid())\n".utf8), to: staging + "/" + JobQueue.ownerFile)
            switch manifest {
            case .file(let path): try FileOps.copyFile(from: path, to: staging + "/" + manifestName)
            case .content(let data, _): try FileOps.writeAtomically(data, to: staging + "/" + manifestName)
            }
            if let archiveSource, let archiveName {
                try FileOps.copyFile(from: archiveSource, to: staging + "/" + archiveName)
            }
            for input in inputs {
                let source = (inbox ?? "") + "/" + input.name
                if FileOps.identity(source) != input.identity {
                    throw DaemonError("\(source) changed while it was being queued; waiting for it to settle again")
                }
            }
            try FileOps.move(staging, to: work)
        } catch {
            FileOps.removeTree(staging)
            throw error
        }
        var job = Job(id: id, kind: kind, dataset: dataset, manifest: manifestName, archive: archiveName,
                      inbox: inbox, inputs: inputs, created: FileOps.isoUTC(now), attempts: 0, recoveries: 0,
                      history: [], error: nil, summary: nil, outcome: nil)
        job.record(.pending, note: note, at: now)
        try write(job, .pending)
        return job
    }

    /// Marker in a work folder holding the PID of the process that created it (dot-files in a work
    /// folder belong to the daemon, not to the job's inputs).
    public static let ownerFile = ".owner"

    /// True when the process recorded in a work folder's owner file still runs. A folder without a
    /// readable owner counts as owned for an hour after its last change.
    static func ownerAlive(_ folder: String) -> Bool {
        if let text = try? String(contentsOfFile: folder + "/" + ownerFile, encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return processAlive(pid)
        }
        var st = stat()
        guard stat(folder, &st) == 0 else { return false }
        return Double(st.st_mtim.tv_sec) > Date().timeIntervalSince1970 - 3600
    }

    /// True when process `pid` exists (ours, or any we may not signal).
    static func processAlive(_ pid: Int32) -> Bool {
        pid == getpid() || kill(pid, 0) == 0 || errno == EPERM
    }

    /// Writes a job's content into a state folder (atomic replace).
    public func write(_ job: Job, _ state: Job.State) throws {
        try FileOps.writeAtomically(try JobQueue.encoder.encode(job), to: path(job.id, state))
    }

    /// Reads one job file.
    public func read(_ id: String, _ state: Job.State) throws -> Job {
        let file = path(id, state)
        let data = try FileOps.read(file)
        do {
            return try JSONDecoder().decode(Job.self, from: data)
        } catch {
            throw DaemonError("\(file): not a valid job file (\(error))")
        }
    }

    /// Ids of the jobs in a state, oldest first (temp files are skipped).
    public func ids(_ state: Job.State) -> [String] {
        FileOps.list(folder(state)).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(5)) }
    }

    /// The jobs in a state, oldest first; unreadable files are skipped.
    public func jobs(_ state: Job.State) -> [Job] {
        ids(state).compactMap { try? read($0, state) }
    }

    /// pending → running by renaming the job file (exclusive between processes), then records the
    /// new state in its content. Returns nil when the job is no longer pending (claimed elsewhere).
    private func claim(_ job: Job) throws -> Job? {
        let source = path(job.id, .pending), destination = path(job.id, .running)
        if rename(source, destination) != 0 {
            if errno == ENOENT { return nil }
            throw FileOps.posixError("move job \(source) to", destination)
        }
        FileOps.syncDirectory(folder(.running))
        FileOps.syncDirectory(folder(.pending))
        var updated = job
        updated.attempts += 1
        updated.record(.running, note: job.attempts == 0 ? "started" : "resumed (attempt \(job.attempts + 1))")
        try write(updated, .running)
        return updated
    }

    /// Ends a running job: writes its updated content into `to` (the commit), then removes the copy
    /// in `running/`. Only the holder of the daemon lock calls this, so no other process races it.
    private func commit(_ job: Job, to: Job.State, note: String?, change: (inout Job) -> Void = { _ in }) throws -> Job {
        let running = path(job.id, .running)
        guard FileOps.exists(running) else { throw DaemonError("job \(job.id) vanished from \(folder(.running))") }
        var updated = job
        change(&updated)
        updated.record(to, note: note)
        try write(updated, to)
        if unlink(running) != 0 && errno != ENOENT { throw FileOps.posixError("remove", running) }
        FileOps.syncDirectory(folder(.running))
        return updated
    }

    /// Claims the oldest pending job whose dataset is not in `busy` (pending → running, attempts + 1).
    public func claimNext(excluding busy: Set<String> = []) throws -> Job? {
        for id in ids(.pending) {
            guard let job = try? read(id, .pending), !busy.contains(job.dataset) else { continue }
            if let claimed = try claim(job) { return claimed }
        }
        return nil
    }

    /// Claims one given pending job; nil when it is no longer pending.
    public func claim(id: String) throws -> Job? {
        guard let job = try? read(id, .pending) else { return nil }
        return try claim(job)
    }

    /// running → done.
    public func finish(_ job: Job, summary: String) throws -> Job {
        try commit(job, to: .done, note: summary) { $0.summary = summary }
    }

    /// running → failed, recording the error.
    public func fail(_ job: Job, error: JobError) throws -> Job {
        try commit(job, to: .failed, note: error.description) { $0.error = error }
    }

    /// running → pending: the job was interrupted (checkpointed) and resumes on the next start.
    public func requeue(_ job: Job, note: String) throws -> Job {
        try commit(job, to: .pending, note: note)
    }

    /// pending → failed without running and without touching its inbox files: the drop belongs to
    /// another daemon now (it took over the claim while this one was down). The outcome is recorded
    /// as complete with no folder, so nothing is moved; the work copies are removed.
    @discardableResult
    public func abandon(_ job: Job, reason: String) throws -> Job {
        let pending = path(job.id, .pending)
        guard FileOps.exists(pending) else { throw DaemonError("job \(job.id) is not in \(folder(.pending))") }
        var updated = job
        updated.error = JobError(stage: "inbox", message: reason, hint: "nothing to do: the other daemon processes this drop")
        updated.outcome = Job.Outcome(folder: nil, complete: true)
        updated.record(.failed, note: reason)
        try write(updated, .failed)
        if unlink(pending) != 0 && errno != ENOENT { throw FileOps.posixError("remove", pending) }
        FileOps.syncDirectory(folder(.pending))
        FileOps.removeTree(workDirectory(job.id))
        return updated
    }

    /// Leaves a job in `running/` marked as interrupted by a requested shutdown: the daemon is stopping
    /// and the job did not return within the grace period. Its thread may still be finishing a step,
    /// so the job stays out of `pending/` (no one else may start it) until the next start, which puts
    /// it back in `pending/` without counting a crash (`recoveries`): a slow checkpoint is no fault.
    @discardableResult
    public func markInterruptedByShutdown(_ job: Job, note: String) throws -> Job {
        guard FileOps.exists(path(job.id, .running)) else { throw DaemonError("job \(job.id) vanished from \(folder(.running))") }
        var updated = job
        updated.interruptedByShutdown = true
        updated.record(.running, note: note)
        try write(updated, .running)
        return updated
    }

    /// Start-up recovery, to be called only by the holder of the daemon lock: removes temp files left
    /// by interrupted writes, moves jobs left in `running/` back to `pending/` (or to `failed/` after
    /// `maxRecoveries` crashes), and removes work folders that belong to no job (a crash between
    /// copying inputs and writing the job; the inbox still holds the originals) once their
    /// creator is gone, or to an ended job whose inputs were already moved. Returns the jobs moved.
    /// Jobs a requested shutdown left behind (`interruptedByShutdown`) go back to `pending/` without
    /// counting towards `maxRecoveries`.
    public func recover() throws -> [Job] {
        for state in Job.State.allCases {
            for name in FileOps.list(folder(state)) where name.hasPrefix(FileOps.tempPrefix) {
                unlink(folder(state) + "/" + name)
            }
        }
        // A crash between writing the destination and removing the running copy leaves both.
        for id in ids(.running) where [Job.State.pending, .done, .failed].contains(where: { FileOps.exists(path(id, $0)) }) {
            unlink(path(id, .running))
        }
        var moved: [Job] = []
        for id in ids(.running) {
            let job: Job
            do { job = try read(id, .running) } catch { continue }
            if job.interruptedByShutdown == true {
                moved.append(try commit(job, to: .pending,
                                        note: "interrupted by a requested shutdown; resumes (not counted as a crash)") {
                    $0.interruptedByShutdown = nil
                })
            } else if job.recoveries + 1 > maxRecoveries {
                let error = JobError(stage: "daemon",
                                     message: "the daemon stopped abnormally \(job.recoveries + 1) times while running this job",
                                     hint: "see the daemon log for the last progress line; fix the cause, then requeue with `fairgen reprocess`")
                moved.append(try commit(job, to: .failed, note: error.message) {
                    $0.recoveries += 1
                    $0.error = error
                })
            } else {
                moved.append(try commit(job, to: .pending, note: "recovered after the daemon stopped abnormally") {
                    $0.recoveries += 1
                })
            }
        }
        // A work folder is written before its job file, possibly by `fairgen reprocess` in another
        // process right now: it is an orphan only once the process that created it is gone.
        // Work folders of ended jobs whose outcome is complete were being removed when the daemon died.
        let live = Set(ids(.pending) + ids(.running))
        for name in FileOps.list(root + "/work") where name.hasPrefix(FileOps.tempPrefix) {
            // Staging folders are named .tmp-<pid>-<job id>.
            let pid = Int32(name.dropFirst(FileOps.tempPrefix.count).prefix { $0 != "-" })
            if let pid, !JobQueue.processAlive(pid) { FileOps.removeTree(root + "/work/" + name) }
        }
        for name in FileOps.list(root + "/work") where !name.hasPrefix(".") && !live.contains(name) {
            let ended = [Job.State.done, .failed].first { FileOps.exists(path(name, $0)) }
            if let ended {
                if (try? read(name, ended))?.outcome?.complete == true { FileOps.removeTree(workDirectory(name)) }
            } else if !JobQueue.ownerAlive(workDirectory(name)) {
                FileOps.removeTree(workDirectory(name))
            }
        }
        return moved
    }
}
