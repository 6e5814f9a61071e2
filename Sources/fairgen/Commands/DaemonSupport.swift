import ArgumentParser
import Daemon
import Foundation
import Logging
import Pipeline

/// Shared plumbing of `fairgen watch` and `fairgen reprocess`: folder defaults, logging, the runner.
enum DaemonCLI {
    /// `--inbox`, else a non-empty `$FAIRGEN_INBOX`, else `./inbox` (relative to the working directory).
    static func inbox(_ flag: String?) -> URL {
        FolderDefaults.folder(flag: flag, variable: FolderDefaults.inboxVariable, fallback: "inbox")
    }

    /// `--store`, else a non-empty `$FAIRGEN_STORE`, else `./store`.
    static func store(_ flag: String?) -> URL {
        FolderDefaults.folder(flag: flag, variable: FolderDefaults.storeVariable, fallback: "store")
    }

    /// Log lines go to stderr (journald captures them under systemd), one line per event: the
    /// handler renders user text in messages with `UntrustedText.terminal` (`OneLineLogHandler`).
    static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return OneLineLogHandler(wrapping: handler)
        }
    }

    /// The runner the CLI wires into the daemon: the whole chain, with `profile` (default `default`).
    static func runner(profile: Profile = .default, executor: ExecutorKind = .local) -> any JobRunner {
        ChainJobRunner(profile: profile, executor: executor)
    }
}

extension ExecutorKind: ExpressibleByArgument {}
