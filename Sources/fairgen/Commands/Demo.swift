import ArgumentParser
import Daemon
import Foundation
import Logging
import Pipeline
import Store

/// `fairgen demo`: writes the embedded demo drop (a dermatology-like toy, generated deterministically)
/// into the inbox, processes it like the daemon does (`watch --once`), and prints the summary table.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build the embedded demo drop, run the whole chain, print the summary table.",
        discussion: "The default profile takes about 11 minutes on 2 cores; --profile quick about 2.5.")

    @Option(help: "Inbox folder (default: $FAIRGEN_INBOX or ./inbox).") var inbox: String?
    @Option(help: "Store folder (default: $FAIRGEN_STORE or ./store).") var store: String?
    /// quick: CI-sized (minutes); default: CPU-sized; paper: the paper's hyperparameters (big machines).
    @Option(help: "quick | default | paper") var profile: Profile = .default
    @Option(help: "Threads for the math, 1…64 (checkpoints are the same bytes for any count).") var threads = 2
    /// Only write the demo drop (derm-demo.yaml + derm-demo.tar.gz) into this folder and exit: a starting
    /// point for `fairgen run` or, with an `experiment:` block added, `fairgen experiment`.
    @Option(help: ArgumentHelp("Only write the demo drop into this folder and exit.", valueName: "dir")) var writeDrop: String?

    func validate() throws {
        try FolderDefaults.validate(inbox, option: "--inbox")
        try FolderDefaults.validate(store, option: "--store")
        guard (1...64).contains(threads) else { throw ValidationError("--threads: expected 1…64, found \(threads)") }
    }

    func run() throws {
        DaemonCLI.bootstrapLogging()
        if let writeDrop {
            let manifest = try DemoDrop.write(into: URL(fileURLWithPath: writeDrop))
            Console.out("wrote \(manifest) and \(DemoDrop.name).tar.gz")
            return
        }
        let inboxURL = DaemonCLI.inbox(inbox), storeURL = DaemonCLI.store(store)
        let manifest = try DemoDrop.write(into: inboxURL)
        Console.error("fairgen demo: wrote \(manifest) and \(DemoDrop.name).tar.gz; processing (profile \(profile.rawValue))…")
        var config = DaemonConfig(inbox: inboxURL, store: storeURL)
        config.once = true
        config.settle = 0.2
        let daemon = Daemon(config: config, runner: ChainJobRunner(profile: profile, threads: threads),
                            logger: Logger(label: "fairgen.demo"))
        daemon.installSignalHandlers()
        do {
            try daemon.run()
        } catch {
            throw CLIFailure.rejected("fairgen demo: \(error)")
        }
        let opened = try Store.open(at: storeURL, create: false)
        guard let version = try opened.latestVersion(of: DemoDrop.name),
              let record = try? opened.runRecord(dataset: DemoDrop.name, version: version),
              record.status == .complete else {
            let failed = inboxURL.appendingPathComponent(".failed")
            throw CLIFailure.rejected("fairgen demo: the demo run did not complete; see the log above and \(failed.path)/*/error.json")
        }
        let run = opened.runDirectory(dataset: DemoDrop.name, version: version)
        let metrics = try MetricsSummary(json: Array(Data(contentsOf: run.appendingPathComponent("metrics.json"))))
        Console.outBlock(SummaryTable.render(metrics))
        print("report:  \(run.appendingPathComponent("report.html").path)")
        print("metrics: \(storeURL.path)/datasets/\(DemoDrop.name)/latest/metrics.json")
    }
}
