import Daemon
import Foundation
import Logging

/// Shared plumbing of `fairgen watch` and `fairgen reprocess`: folder defaults, logging, the runner.
enum DaemonCLI {
    /// `--inbox`, else `$FAIRGEN_INBOX`, else `./inbox` (relative to the working directory).
    static func inbox(_ flag: String?) -> URL {
        URL(fileURLWithPath: flag ?? ProcessInfo.processInfo.environment["FAIRGEN_INBOX"] ?? "inbox")
    }

    /// `--store`, else `$FAIRGEN_STORE`, else `./store`.
    static func store(_ flag: String?) -> URL {
        URL(fileURLWithPath: flag ?? ProcessInfo.processInfo.environment["FAIRGEN_STORE"] ?? "store")
    }

    /// Log lines go to stderr (journald captures them under systemd), one line per event.
    static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
    }

    /// The runner the CLI wires into the daemon.
    static func runner() -> any JobRunner { PipelineNotBuiltRunner() }
}

/// TEMPORARY — replaced by the Pipeline module's runner when the pipeline lands (issue 6, Pipeline
/// part). Until then every job fails with a clear reason, so a drop ends in `inbox/.failed/` with an
/// `error.json` saying why, instead of sitting in the inbox.
struct PipelineNotBuiltRunner: JobRunner {
    func run(job: Job, context: JobContext) throws -> JobResult {
        .failed(JobError(stage: "pipeline", message: "pipeline not built yet",
                         hint: "this fairgen build has the daemon but not the training pipeline; use a newer build"))
    }
}
