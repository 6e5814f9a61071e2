import ArgumentParser
import Daemon
import Foundation
import Logging
import Pipeline

/// `fairgen reprocess (NAME | --all) [--if-stale] [--foreground]`: new runs for cron (thin layer over
/// `Reprocess` and `Daemon.runNow`).
struct ReprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reprocess",
        abstract: "Queue a new run of a dataset (or all) with the manifest of its latest run.")

    @Argument(help: "Dataset name.") var name: String?
    @Flag(help: "Every dataset in the store.") var all = false
    @Flag(help: "Only datasets whose code version or manifest changed since their latest complete run.")
    var ifStale = false
    @Flag(help: "Run the jobs now in this process instead of queueing them for the daemon.") var foreground = false
    @Option(help: "Store folder (default: $FAIRGEN_STORE or ./store).") var store: String?
    /// Used with --foreground: quick | default | paper.
    @Option(help: "Pipeline profile for --foreground: quick | default | paper") var profile: Profile = .default

    func validate() throws {
        try FolderDefaults.validate(store, option: "--store")
        if (name == nil) == !all { throw ValidationError("give either a dataset NAME or --all") }
    }

    func run() throws {
        let storeURL = DaemonCLI.store(store)
        let decisions: [Reprocess.Decision]
        do {
            decisions = try Reprocess.enqueue(store: storeURL, datasets: all ? nil : [name!], ifStale: ifStale)
        } catch {
            Console.error("fairgen reprocess: \(error)")
            throw ExitCode(1)
        }
        if decisions.isEmpty { Console.error("fairgen reprocess: no datasets in \(storeURL.path)/datasets") }
        var rejected = false
        var queued: [String] = []
        for decision in decisions {
            switch decision {
            case .queued(let job):
                Console.out("\(job.dataset): queued job \(job.id)")
                queued.append(job.id)
            case .upToDate(let dataset, let version):
                Console.out("\(dataset): up to date (\(version))")
            case .alreadyQueued(let dataset, let job):
                Console.out("\(dataset): already queued (job \(job))")
            case .rejected(let dataset, let message):
                Console.error("fairgen reprocess \(dataset): \(message)")
                rejected = true
            }
        }
        if foreground && !queued.isEmpty {
            DaemonCLI.bootstrapLogging()
            var config = DaemonConfig(inbox: DaemonCLI.inbox(nil), store: storeURL)
            config.jobs = 1
            let daemon = Daemon(config: config, runner: DaemonCLI.runner(profile: profile), logger: Logger(label: "fairgen.reprocess"))
            daemon.installSignalHandlers()
            do {
                for (id, state) in try daemon.runNow(ids: queued) {
                    Console.out("\(id): \(state?.rawValue ?? "missing")")
                    if state == .failed { rejected = true }
                }
            } catch {
                Console.error("fairgen reprocess --foreground: \(error); without --foreground the running daemon takes the jobs")
                throw ExitCode(1)
            }
        }
        if rejected { throw ExitCode(1) }
    }
}
