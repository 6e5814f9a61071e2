import ArgumentParser
import Daemon
import Foundation
import Logging
import Pipeline
import Store

/// `fairgen stage run`: one stage of a run, by itself — what a Slurm job of `--executor slurm` executes
/// (docs/cluster.md). It rebuilds the run's plan from the job spec the executor wrote into
/// `STORE/cluster/NAME/vNNNN/job.json`, requires every upstream stage to be in the run-cache, and runs
/// exactly its stage with the usual atomic object, key and run.json writes.
struct StageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage",
        abstract: "Run one stage of a run (what a Slurm job of --executor slurm executes).",
        subcommands: [Run.self]
    )

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run one stage of a run whose job spec the Slurm executor wrote.",
            discussion: "Exit 0 when the stage is complete (or was already in the run-cache), 1 when it failed or an input stage is missing, 130 when stopped by SIGTERM/SIGINT (its training checkpoint is saved; a rerun resumes).")

        @OptionGroup var location: StoreLocation
        /// The run: `NAME/vNNNN` (as the executor writes it).
        @Option(name: .customLong("run"), help: ArgumentHelp("The run, NAME/vN.", valueName: "run")) var reference: String
        /// ingest, train-ddpm, train-upsampler, fair-sample, evaluate, classify (with --variant/--seed or --task),
        /// or a full classifier stage name such as classify-baseline-seed0.
        @Option(help: ArgumentHelp("The stage: ingest | train-ddpm | train-upsampler | fair-sample | classify | evaluate, or a classify-VARIANT-seedN name.", valueName: "name"))
        var stage: String
        /// With `--stage classify`: the variant (e.g. `synthetic_a0.50`).
        @Option(help: "With --stage classify: the variant name.") var variant: String?
        /// With `--stage classify`: the seed.
        @Option(help: "With --stage classify: the seed.") var seed: Int?
        /// With `--stage classify`: variant index × seeds + seed (a Slurm array's $SLURM_ARRAY_TASK_ID).
        @Option(help: "With --stage classify: the task index, variant index × seeds + seed ($SLURM_ARRAY_TASK_ID).") var task: Int?

        func run() throws {
            DaemonCLI.bootstrapLogging()
            let store = try location.open(create: false)
            let (dataset, version) = try store.resolveRun(reference)
            let stop = StopFlag.install()
            let logger = Logger(label: "fairgen.stage")
            let outcome = try ChainCLI.mappingStageFailures {
                try StageJob.run(store: store, dataset: dataset, version: version, stage: stage, variant: variant,
                                 seed: seed, task: task, logger: logger, shouldStop: { stop.isSet })
            }
            Console.out("\(outcome.stage): \(outcome.status.rawValue)")
        }
    }
}
