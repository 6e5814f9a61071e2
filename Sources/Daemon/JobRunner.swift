import Foundation
import Logging
import Text

/// The plug-in point between the daemon and the work it schedules. The Pipeline module provides the
/// real runner; the daemon only moves jobs through the queue and files through the inbox.
///
/// Contract:
/// - `run` is called on a worker thread, at most once at a time per dataset.
/// - It checks `context.cancellation.isCancelled` between steps (and inside long loops, at least once a
///   second). When set, it writes its checkpoint, then returns `.interrupted` (or throws
///   `CancellationError`); the job goes back to `pending/` and is resumed on the next start.
/// - A returned `.failed(error)` or a thrown `JobError` fails the job with that reason; any other thrown
///   error is reported as an internal failure (stage "internal").
public protocol JobRunner: Sendable {
    /// Processes one job. Inputs are in `context.workDirectory` (copies of the inbox files).
    func run(job: Job, context: JobContext) throws -> JobResult
}

/// How a job ended, as the runner reports it.
public enum JobResult: Sendable, Equatable {
    /// The job finished; `summary` is logged on the job's end line (e.g. "v0003, α=0.50").
    case succeeded(summary: String)
    /// The job failed for a reason the user can act on.
    case failed(JobError)
    /// The job stopped because cancellation was requested; its progress is checkpointed.
    case interrupted
}

/// Why a job failed: written to `error.json` beside the moved inputs and into the job file.
public struct JobError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// The stage that failed: "inbox", "ingest", "train-ddpm", …, "pipeline", "internal".
    public var stage: String
    /// One line naming the file / field and what was expected.
    public var message: String
    /// What the user can do about it (may be empty).
    public var hint: String
    /// The log file of the Slurm job that failed (`--executor slurm`), if any.
    public var log: String?

    /// The texts are rendered with `UntrustedText.terminal` here, once: messages quote inbox file
    /// names and manifest values, and end up in the daemon log, the job file and error.json.
    public init(stage: String, message: String, hint: String = "", log: String? = nil) {
        self.stage = UntrustedText.terminal(stage)
        self.message = UntrustedText.terminal(message)
        self.hint = UntrustedText.terminal(hint)
        self.log = log.map { UntrustedText.terminal($0) }
    }

    public var description: String { "\(stage): \(message)" + (hint.isEmpty ? "" : " (\(hint))") }
}

/// A flag set once (by a signal handler or a stop request) and polled by runners.
public final class CancellationToken: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    /// True once `cancel()` was called.
    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    /// Requests cancellation; idempotent.
    public func cancel() {
        lock.lock(); cancelled = true; lock.unlock()
    }

    /// Throws `CancellationError` when cancellation was requested: a convenient check inside loops.
    public func check() throws {
        if isCancelled { throw CancellationError() }
    }
}

/// Everything a runner may use besides the job itself.
public struct JobContext: Sendable {
    /// Set when the daemon is stopping; the runner checkpoints and returns `.interrupted`.
    public let cancellation: CancellationToken
    /// The store root (`--store`).
    public let storeURL: URL
    /// The job's private folder holding copies of its input files; removed after the outcome.
    public let workDirectory: URL
    /// Logger with the job id in its metadata.
    public let logger: Logger

    public init(cancellation: CancellationToken, storeURL: URL, workDirectory: URL, logger: Logger) {
        self.cancellation = cancellation
        self.storeURL = storeURL
        self.workDirectory = workDirectory
        self.logger = logger
    }

    /// Forwards one progress line (e.g. "train-ddpm step 400/2000 loss 0.031 ETA 3m") to the daemon log.
    public func progress(_ line: String) {
        logger.info("\(line)")
    }
}
