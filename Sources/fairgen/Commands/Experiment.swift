import ArgumentParser
import Daemon
import Datasets
import Foundation
import Logging
import Pipeline
import Store

/// `fairgen experiment MANIFEST`: every level of the manifest's `experiment:` block through the chain, in
/// the foreground, then `sweep.json` and `sweep.html` under `store/datasets/NAME/experiments/<id>/`.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run the sweep of a manifest's experiment: block (one run per level) and write sweep.json and sweep.html.",
        discussion: "Prints the projected time first and progress with an ETA per level; stages shared between levels run once. "
            + "Ctrl-C checkpoints and stops; run again to resume (finished levels come back cached). See docs/experiments.md.")

    @Argument(help: ArgumentHelp("The drop's manifest with an experiment: block; its archive must sit beside it.", valueName: "manifest"))
    var manifest: String
    @OptionGroup var location: StoreLocation
    /// quick: CI-sized (minutes per level); default: CPU-sized; paper: the paper's hyperparameters (big machines).
    @Option(help: "quick | default | paper") var profile: Profile = .default
    /// Threads of the math for every level (results do not depend on it).
    @Option(help: "Threads for the math, 1…64 (checkpoints are the same bytes for any count).") var threads = 2

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads: expected 1…64, found \(threads)") }
    }

    func run() throws {
        DaemonCLI.bootstrapLogging()
        let store = try location.open(create: true)
        let stop = StopFlag.install()
        var options = Chain.Options(profile: profile, threads: threads, logger: Logger(label: "fairgen.experiment"))
        options.shouldStop = { stop.isSet }
        options.codeVersion = FairgenVersion.code
        let result: Experiment.Result
        do {
            result = try ChainCLI.mappingStageFailures(note: " (run the same command again to resume the sweep)") {
                try Experiment.run(manifestPath: manifest, store: store, options: options) { Console.error($0) }
            }
        } catch let e as DatasetError {
            throw CLIFailure.rejected(e.description)
        }
        Console.outBlock(result.report.markdown)
        Console.out("sweep: \(result.directory.appendingPathComponent("sweep.json").path)")
        Console.out("plots: \(result.directory.appendingPathComponent("sweep.html").path)")
    }
}
