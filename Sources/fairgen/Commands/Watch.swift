import ArgumentParser
import Daemon
import Foundation
import Logging
import Pipeline

/// `fairgen watch`: the daemon (thin layer over `Daemon`).
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch the inbox and process each complete drop (the daemon).",
        discussion: "A drop is NAME.yaml plus the archive it names; see docs/operations.md.")

    @Option(help: "Inbox folder (default: $FAIRGEN_INBOX or ./inbox).") var inbox: String?
    @Option(help: "Store folder (default: $FAIRGEN_STORE or ./store).") var store: String?
    @Flag(help: "Process what is there (drops and queued jobs), then exit.") var once = false
    @Option(help: "How long files must stay unchanged: 2s, 500ms or seconds.") var settle = "2s"
    @Option(help: "Jobs run at the same time (never two of one dataset).") var jobs = 1
    /// quick: CI-sized (minutes); default: CPU-sized; paper: the paper's hyperparameters (big machines).
    @Option(help: "Pipeline profile: quick | default | paper") var profile: Profile = .default
    /// local: stages run in this process; slurm: each stage is an sbatch job (STORE/config/slurm.yaml, docs/cluster.md).
    @Option(help: "Where stages run: local | slurm (docs/cluster.md).") var executor: ExecutorKind = .local

    func validate() throws {
        try FolderDefaults.validate(inbox, option: "--inbox")
        try FolderDefaults.validate(store, option: "--store")
        guard DaemonConfig.parseSeconds(settle) != nil else {
            throw ValidationError("--settle \(settle): expected a duration such as 2s, 500ms or 2")
        }
        guard jobs >= 1 else { throw ValidationError("--jobs \(jobs): expected at least 1") }
    }

    func run() throws {
        DaemonCLI.bootstrapLogging()
        var config = DaemonConfig(inbox: DaemonCLI.inbox(inbox), store: DaemonCLI.store(store))
        config.once = once
        config.settle = DaemonConfig.parseSeconds(settle)!
        config.jobs = jobs
        let daemon = Daemon(config: config, runner: DaemonCLI.runner(profile: profile, executor: executor), logger: Logger(label: "fairgen.daemon"))
        daemon.installSignalHandlers()
        do {
            try daemon.run()
        } catch {
            Console.error("fairgen watch: \(error)")
            throw ExitCode(1)
        }
    }
}
