import Foundation
import Text
#if canImport(Glibc)
import Glibc
#endif

/// Where a drop's inputs go when its job ends (DESIGN §4): `inbox/.processed/<UTC time>-NAME/` or
/// `inbox/.failed/<UTC time>-NAME/` (with `error.json`). Inputs are moved with `rename(2)`, never
/// deleted. If an inbox file was removed or replaced while the job ran, the job's own copy is moved
/// there instead, so the outcome folder always holds exactly what the job processed.
public enum Outcomes {
    /// Name of the success folder inside the inbox.
    public static let processedFolder = ".processed"
    /// Name of the failure folder inside the inbox.
    public static let failedFolder = ".failed"

    /// The content of `error.json`.
    public struct ErrorFile: Codable, Sendable, Equatable {
        public var stage: String
        public var message: String
        public var hint: String
        /// ISO 8601 UTC.
        public var time: String
        /// The job id (nil for drops rejected before queueing).
        public var job: String?
        /// The failed Slurm job's log file (`--executor slurm`, docs/cluster.md); absent otherwise.
        public var log: String? = nil
    }

    /// A fresh folder `<inbox>/<kind>/<UTC time>-<name>` (suffixed -2, -3… when taken); not created.
    static func newFolder(inbox: String, kind: String, name: String, now: Date) -> String {
        let base = inbox + "/" + kind + "/" + FileOps.compactUTC(now) + "-" + name
        var candidate = base
        var n = 2
        while FileOps.exists(candidate) {
            candidate = base + "-\(n)"
            n += 1
        }
        return candidate
    }

    static func writeError(_ error: JobError, job: String?, folder: String, now: Date) throws {
        // Rendered again because a JobError decoded from an old job file skipped `JobError.init`.
        let file = ErrorFile(stage: UntrustedText.terminal(error.stage), message: UntrustedText.terminal(error.message),
                             hint: UntrustedText.terminal(error.hint), time: FileOps.isoUTC(now), job: job,
                             log: error.log.map { UntrustedText.terminal($0) })
        try FileOps.writeAtomically(try JobQueue.encoder.encode(file), to: folder + "/error.json")
    }

    /// Moves the inputs of a job that is in `state` (`done/` or `failed/`) to its outcome folder and
    /// removes the job's work copies. Idempotent: after a crash half-way, calling it again finishes the
    /// move. The folder chosen is recorded in the job before anything moves, so a retry uses the same one.
    @discardableResult
    public static func complete(_ job: Job, in state: Job.State, queue: JobQueue, now: Date = Date()) throws -> Job {
        guard state == .done || state == .failed else {
            throw DaemonError("job \(job.id): outcome requested in state \(state.rawValue)")
        }
        var job = job
        if job.outcome?.complete == true { return job }
        let work = queue.workDirectory(job.id)
        if job.outcome == nil {
            var folder: String?
            if let inbox = job.inbox, !job.inputs.isEmpty {
                folder = newFolder(inbox: inbox, kind: state == .done ? processedFolder : failedFolder,
                                   name: job.dataset, now: now)
            }
            job.outcome = Job.Outcome(folder: folder, complete: false)
            try queue.write(job, state)
        }
        if let folder = job.outcome?.folder, let inbox = job.inbox {
            try FileOps.makeDirectory(folder)
            for input in job.inputs {
                let target = folder + "/" + input.name
                if FileOps.exists(target) { continue }
                let original = inbox + "/" + input.name
                if FileOps.identity(original) == input.identity {
                    try FileOps.move(original, to: target)
                } else if FileOps.exists(work + "/" + input.name) {
                    try FileOps.moveAcrossDevices(work + "/" + input.name, to: target)
                }
            }
            if state == .failed {
                let error = job.error ?? JobError(stage: "internal", message: "job failed without a recorded error")
                try writeError(error, job: job.id, folder: folder, now: now)
            }
        }
        job.outcome?.complete = true
        try queue.write(job, state)
        FileOps.removeTree(work)
        if let inbox = job.inbox, !job.inputs.isEmpty {
            // The files have left the inbox: other daemons on this inbox need not respect the claim.
            try? InboxClaims.release(inbox: inbox, manifest: job.manifest, owner: InboxClaims.Owner(store: queue.storeRoot))
        }
        return job
    }

    /// Moves a manifest that can never become a drop (invalid, or naming nothing usable) to
    /// `inbox/.failed/<UTC time>-NAME/` with `error.json`; returns the folder.
    @discardableResult
    public static func reject(manifest: String, inbox: String, error: JobError, now: Date = Date()) throws -> String {
        let folder = newFolder(inbox: inbox, kind: failedFolder, name: ManifestKeys.stem(manifest), now: now)
        try FileOps.makeDirectory(folder)
        try writeError(error, job: nil, folder: folder, now: now)
        try FileOps.move(inbox + "/" + manifest, to: folder + "/" + manifest)
        return folder
    }
}
