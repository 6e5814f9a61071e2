import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The on-disk job queue: `store/queue/{pending,running,done,failed}/<id>.json`, plus
/// `store/queue/work/<id>/` holding each job's copies of its input files.
///
/// Crash safety: a state transition is one `rename(2)` between folders (the commit point), after which
/// the job's content (history, attempts) is rewritten in place with temp + fsync + rename. A job file
/// is therefore always whole and always in exactly one folder. Claiming is a rename too, so two
/// processes can never both claim a job. After `kill -9`, `recover()` moves jobs found in `running/`
/// back to `pending/`.
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

    /// Copies the input files into a new work folder and writes the job into `pending/`.
    /// `manifestSource`/`archiveSource` are paths to copy; `inputs` are the inbox files whose identity
    /// must not change during the copy (else the half-copied job is discarded and an error thrown).
    @discardableResult
    public func enqueue(kind: Drop.Kind, dataset: String, manifestSource: String, archiveSource: String?,
                        inbox: String?, inputs: [Job.Input], note: String, now: Date = Date()) throws -> Job {
        let random = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        let id = "\(FileOps.compactUTC(now))-\(dataset)-\(random)"
        let work = workDirectory(id)
        try FileOps.makeDirectory(work)
        // Who is filling this folder: recovery removes it only once that process is gone.
        _ = FileManager.default.createFile(atPath: work + "/" + JobQueue.ownerFile, contents: Data("\(getpid())\n".utf8))
        let manifestName = URL(fileURLWithPath: manifestSource).lastPathComponent
        let archiveName = archiveSource.map { URL(fileURLWithPath: $0).lastPathComponent }
        do {
            try FileOps.copyFile(from: manifestSource, to: work + "/" + manifestName)
            if let archiveSource, let archiveName {
                try FileOps.copyFile(from: archiveSource, to: work + "/" + archiveName)
            }
            for input in inputs {
                let source = (inbox ?? "") + "/" + input.name
                if FileOps.identity(source) != input.identity {
                    throw DaemonError("\(source) changed while it was being queued; waiting for it to settle again")
                }
            }
        } catch {
            FileOps.removeTree(work)
            throw error
        }
        FileOps.syncDirectory(root + "/work")
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
            return pid == getpid() || kill(pid, 0) == 0 || errno == EPERM
        }
        var st = stat()
        guard stat(folder, &st) == 0 else { return false }
        return Double(st.st_mtim.tv_sec) > Date().timeIntervalSince1970 - 3600
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

    /// Moves a job between folders (the atomic commit), then records the new state in its content.
    /// Returns nil when the job is no longer in `from` (another process moved it first).
    @discardableResult
    func transition(_ job: Job, from: Job.State, to: Job.State, note: String?,
                    change: (inout Job) -> Void = { _ in }) throws -> Job? {
        let source = path(job.id, from), destination = path(job.id, to)
        if rename(source, destination) != 0 {
            if errno == ENOENT { return nil }
            throw FileOps.posixError("move job \(source) to", destination)
        }
        FileOps.syncDirectory(folder(to))
        FileOps.syncDirectory(folder(from))
        var updated = job
        change(&updated)
        updated.record(to, note: note)
        try write(updated, to)
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

    private func claim(_ job: Job) throws -> Job? {
        let note = job.attempts == 0 ? "started" : "resumed (attempt \(job.attempts + 1))"
        return try transition(job, from: .pending, to: .running, note: note) { $0.attempts += 1 }
    }

    /// running → done.
    public func finish(_ job: Job, summary: String) throws -> Job {
        guard let done = try transition(job, from: .running, to: .done, note: summary, change: { $0.summary = summary })
        else { throw DaemonError("job \(job.id) vanished from \(folder(.running))") }
        return done
    }

    /// running → failed, recording the error.
    public func fail(_ job: Job, error: JobError) throws -> Job {
        guard let failed = try transition(job, from: .running, to: .failed, note: error.description,
                                          change: { $0.error = error })
        else { throw DaemonError("job \(job.id) vanished from \(folder(.running))") }
        return failed
    }

    /// running → pending: the job was interrupted (checkpointed) and resumes on the next start.
    public func requeue(_ job: Job, note: String) throws -> Job {
        guard let pending = try transition(job, from: .running, to: .pending, note: note)
        else { throw DaemonError("job \(job.id) vanished from \(folder(.running))") }
        return pending
    }

    /// Start-up recovery, to be called only by the holder of the daemon lock: removes temp files left
    /// by interrupted writes, moves jobs left in `running/` back to `pending/` (or to `failed/` after
    /// `maxRecoveries` crashes), and removes work folders that belong to no job (a crash between
    /// copying inputs and writing the job; the inbox still holds the originals) once their
    /// creator is gone. Returns the jobs moved.
    public func recover() throws -> [Job] {
        for state in Job.State.allCases {
            for name in FileOps.list(folder(state)) where name.hasPrefix(FileOps.tempPrefix) {
                unlink(folder(state) + "/" + name)
            }
        }
        var moved: [Job] = []
        for id in ids(.running) {
            let job: Job
            do { job = try read(id, .running) } catch { continue }
            if job.recoveries + 1 > maxRecoveries {
                let error = JobError(stage: "daemon",
                                     message: "the daemon stopped abnormally \(job.recoveries + 1) times while running this job",
                                     hint: "see the daemon log for the last progress line; fix the cause, then requeue with `fairgen reprocess`")
                if let failed = try transition(job, from: .running, to: .failed, note: error.message,
                                               change: { $0.recoveries += 1; $0.error = error }) {
                    moved.append(failed)
                }
            } else if let pending = try transition(job, from: .running, to: .pending,
                                                   note: "recovered after the daemon stopped abnormally",
                                                   change: { $0.recoveries += 1 }) {
                moved.append(pending)
            }
        }
        // A work folder is written before its job file, possibly by `fairgen reprocess` in another
        // process right now: it is an orphan only once the process that created it is gone.
        let known = Set(Job.State.allCases.flatMap { ids($0) })
        for name in FileOps.list(root + "/work") where !known.contains(name) && !name.hasPrefix(".") {
            if !JobQueue.ownerAlive(workDirectory(name)) { FileOps.removeTree(workDirectory(name)) }
        }
        return moved
    }
}
