import ArgumentParser
import Datasets
import Daemon
import Foundation
import Logging
import Pipeline
import Store

/// `fairgen run MANIFEST`: the whole chain for one drop, in the foreground (no inbox, no queue).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the whole chain for one manifest in the foreground and print the summary table.",
        discussion: "Stages already in the store's run-cache are reused; Ctrl-C checkpoints and stops (run again to resume).")

    @Argument(help: ArgumentHelp("The drop's manifest (YAML or JSON); its archive must sit beside it.", valueName: "manifest"))
    var manifest: String
    @OptionGroup var location: StoreLocation
    /// quick: CI-sized (minutes); default: CPU-sized; paper: the paper's hyperparameters (big machines).
    @Option(help: "quick | default | paper") var profile: Profile = .default
    @Option(help: "Threads for the math, 1…64 (checkpoints are the same bytes for any count).") var threads = 2
    /// local: stages run in this process; slurm: each stage is an sbatch job (STORE/config/slurm.yaml, docs/cluster.md).
    @Option(help: "Where stages run: local | slurm (docs/cluster.md).") var executor: ExecutorKind = .local

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads: expected 1…64, found \(threads)") }
    }

    func run() throws {
        DaemonCLI.bootstrapLogging()
        // A sweep asked for in the manifest is not silently dropped: say what `run` does with it.
        if let m = try? Manifest.load(path: manifest), m.experiment != nil {
            Console.error("fairgen run: the manifest has an experiment: block; `run` does one plain run of the drop "
                + "and ignores it (`fairgen experiment <manifest>` runs the sweep, docs/experiments.md)")
        }
        let store = try location.open(create: true)
        let result = try ChainCLI.run(manifestPath: manifest, store: store, profile: profile, threads: threads, executor: executor)
        Console.outBlock(SummaryTable.render(result.metrics))
        Console.out("report: \(result.runDirectory.appendingPathComponent("report.html").path)")
    }
}

extension Profile: ExpressibleByArgument {}

/// Shared by `run` and `demo`: runs the chain with SIGINT/SIGTERM turned into a checkpoint-and-stop,
/// and maps its errors to DESIGN §8's exit codes.
enum ChainCLI {
    static func run(manifestPath: String, store: Store, profile: Profile, threads: Int,
                    executor: ExecutorKind = .local) throws -> Chain.Result {
        let stop = StopFlag.install()
        var options = Chain.Options(profile: profile, threads: threads, logger: Logger(label: "fairgen.run"))
        options.shouldStop = { stop.isSet }
        options.codeVersion = FairgenVersion.code
        do {
            return try mappingStageFailures {
                options.executor = try executor.make(store: store.root)
                return try Chain.run(manifestPath: manifestPath, store: store, options: options)
            }
        } catch let e as SlurmJobFailure {
            throw CLIFailure.rejected("fairgen: \(e.description)")
        } catch let e as DaemonError where executor == .slurm {
            // A bad slurm.yaml, sbatch refusing a job, a job Slurm lost: said in one line, exit 1.
            throw CLIFailure.rejected("fairgen: \(e.message)")
        } catch let e as DatasetError {
            throw CLIFailure.rejected(e.description)
        }
    }

    /// DESIGN §8 for whatever runs stages (`run`, `demo`, `experiment`, `stage run`): an interruption exits 130
    /// with the stage's line (and `note`); a stage that failed because the disk is full or the store
    /// read-only stays that failure (`Exit.report` gives it exit 3 and its true cause); any other stage
    /// failure is a rejected input (exit 1).
    static func mappingStageFailures<T>(note: String = "", _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as StageInterrupted {
            Console.error("fairgen: \(e.description)\(note)")
            throw ExitCode(130)
        } catch let e as PipelineError {
            if Exit.environmentFailure(in: e) != nil { throw e }
            throw CLIFailure.rejected("fairgen: \(e.message)")
        }
    }
}

/// Set by SIGINT / SIGTERM; the chain polls it between training steps.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var sources: [DispatchSourceSignal] = []

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return set }

    static func install() -> StopFlag {
        let flag = StopFlag()
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                flag.lock.lock(); flag.set = true; flag.lock.unlock()
                Console.error("fairgen: stopping after the current step (checkpointing)…")
            }
            source.resume()
            flag.sources.append(source)
        }
        return flag
    }
}
