import ArgumentParser

/// The `fairgen` command: a thin layer over the library modules (all logic lives there).
@main
struct Fairgen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fairgen",
        abstract: "Generative data augmentation for fairer medical-image classifiers.",
        subcommands: [
            DemoCommand.self, WatchCommand.self, RunCommand.self, ExperimentCommand.self, IngestCommand.self,
            ReprocessCommand.self, StoreCommand.self, MetricsCommand.self, BenchCommand.self, TrainCheckCommand.self,
            StageCommand.self,
        ]
    )
}
