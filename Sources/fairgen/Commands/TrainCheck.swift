import ArgumentParser
import Distributed
import Foundation
import Pipeline
import Store
import Tensors

/// `fairgen train-check`: trains a tiny DDPM as one cached stage in the store and prints its checkpoint's
/// object id. Run it once alone and once under `mpirun -np N` with the same options: the ids must agree
/// (docs/mpi.md). Hidden from the help: a check of the MPI path, not a workflow command.
struct TrainCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-check",
        abstract: "Train a tiny DDPM as one data-parallel stage and print its checkpoint id (MPI check, docs/mpi.md).",
        shouldDisplay: false
    )
    @OptionGroup var location: StoreLocation
    @Option(help: "Optimizer steps.") var steps = 6
    @Option(help: "Batch size.") var batch = 4
    @Option(name: .customLong("micro-batches"), help: "Micro-batches per batch (a multiple of the MPI ranks).") var microBatches = 2
    @Option(help: "Seed of the generated images, the network and every draw.") var seed: UInt64 = 1
    @Option(help: "Threads per process.") var threads = 1

    /// Why `command` may not run here: it was started as one of several MPI ranks (mpirun/srun) but is not
    /// MPI-aware — every rank would create run folders and take locks. Nil for MPI-aware commands (this one)
    /// and outside MPI. Checked before any command runs, so MPI_Init is never reached by the others.
    static func refusalUnderMPI(_ command: ParsableCommand.Type) -> String? {
        let ranks = World.launcherSize(ProcessInfo.processInfo.environment)
        guard ranks > 1, command != TrainCheckCommand.self else { return nil }
        return "fairgen: '\(command._commandName)' is not MPI-aware and was started as one of \(ranks) ranks;"
            + " under mpirun/srun run 'fairgen train-check' (docs/mpi.md)"
    }

    func validate() throws {
        guard steps >= 1, batch >= 1, microBatches >= 1, threads >= 1 else {
            throw ValidationError("--steps, --batch, --micro-batches and --threads must be positive")
        }
    }

    func run() throws {
        let world = World.shared
        Parallel.threads = threads
        // Rank 0 creates the store; the others open it once it exists and never write to it.
        let store = world.isWriter ? try location.open(create: true) : nil
        world.barrier()
        let runner = StageRunner(store: try store ?? location.open(create: false), run: nil, communicator: world)
        let settings = TrainCheckStage.Settings(steps: steps, batch: batch, microBatches: microBatches, seed: seed)
        let outputs = try runner.run(try TrainCheckStage.stage(settings))
        if world.isWriter, let id = outputs["checkpoint"] {
            print("checkpoint \(id.hex) ranks \(world.size)")
        }
    }
}
