import Distributed
import Foundation
import Store

/// StageRunner under MPI (docs/mpi.md): rank 0 is the only writer — it looks up the cache, runs the body,
/// stores the outputs, records the key and writes run.json exactly as one process would. The other ranks
/// write nothing: they run the body of a `dataParallel` stage (its collectives need them) with a scratch
/// folder outside the store and discard what it returns, skip every other body, and take the outputs'
/// object ids from rank 0. Per stage, rank 0 broadcasts two messages that every rank receives in the
/// same order: whether the body runs, then the outcome (outputs, interrupted, or the error's text).
extension StageRunner {
    func runRanked(_ stage: Stage) throws -> [String: ObjectID] {
        let comm = communicator
        guard comm.isWriter else { return try follow(stage) }
        var announced = false
        func announce(runsBody: Bool) {
            announced = true
            var flag: [Float] = [runsBody ? 1 : 0]
            comm.broadcast(&flag, root: 0)
        }
        do {
            let outputs = try runLocal(stage) { cached in announce(runsBody: stage.dataParallel && !cached) }
            _ = comm.broadcast(text: RankOutcome.outputs(outputs).encoded)
            return outputs
        } catch let interrupted as StageInterrupted {
            if !announced { announce(runsBody: false) }
            _ = comm.broadcast(text: RankOutcome.interrupted.encoded)
            throw interrupted
        } catch {
            if !announced { announce(runsBody: false) }
            _ = comm.broadcast(text: RankOutcome.failed("\(error)").encoded)
            throw error
        }
    }

    /// A non-zero rank's side of `runRanked`.
    private func follow(_ stage: Stage) throws -> [String: ObjectID] {
        var flag: [Float] = [0]
        communicator.broadcast(&flag, root: 0)
        if flag[0] == 1 {
            do {
                try runFollowerBody(stage)
            } catch is StageInterrupted {
                // rank 0 stopped at the same step (the stop decision is collective); its outcome follows
            } catch {
                // Rank 0 may be waiting in a collective this rank will never join: end the whole job. A
                // configuration error fails rank 0 the same way; the pause lets it record that in run.json
                // and print it before the abort takes it down.
                usleep(2_000_000)
                communicator.abort("stage \(stage.name) failed on rank \(communicator.rank): \(error)")
            }
        }
        switch RankOutcome(decoding: communicator.broadcast(text: "")) {
        case .outputs(let outputs): return outputs
        case .interrupted: throw StageInterrupted(stage: stage.name)
        case .failed(let message): throw PipelineError("stage \(stage.name) failed on rank 0: \(message)")
        }
    }

    /// Runs the body as a reader: same inputs and resume folder (rank 0 writes its checkpoints there only
    /// after every rank has joined the step's allgather, i.e. after they have read it), private scratch.
    private func runFollowerBody(_ stage: Stage) throws {
        let key = try stage.key()
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("fairgen-rank\(communicator.rank)-\(stage.name)-\(key.hex.prefix(16))")
        try? FileManager.default.removeItem(at: scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let context = StageContext(stage: stage.name, config: stage.config, inputs: stage.inputs, store: store,
                                   scratch: scratch, key: key,
                                   resumeDirectory: StageRunner.resumeDirectory(store: store, stage: stage.name, key: key),
                                   shouldStop: bodyShouldStop(stage), progressInterval: .infinity, clock: clock,
                                   communicator: communicator, emit: { _ in })
        _ = try stage.body(context)
    }

    /// The communicator a body sees: the runner's for a data-parallel stage, one process otherwise (rank 0
    /// runs those alone).
    func bodyCommunicator(_ stage: Stage) -> any Communicator {
        stage.dataParallel ? communicator : SingleProcess()
    }

    /// The stop test a body sees. Under MPI, ranks of a data-parallel body must stop at the same step, so
    /// rank 0's answer is broadcast (one float per poll, i.e. per training step).
    func bodyShouldStop(_ stage: Stage) -> () -> Bool {
        guard stage.dataParallel, communicator.size > 1 else { return shouldStop }
        let comm = communicator, local = shouldStop
        return {
            var flag: [Float] = [comm.isWriter && local() ? 1 : 0]
            comm.broadcast(&flag, root: 0)
            return flag[0] != 0
        }
    }
}

/// What rank 0 tells the other ranks at the end of a stage.
enum RankOutcome: Equatable {
    case outputs([String: ObjectID])
    case interrupted
    case failed(String)

    var encoded: String {
        switch self {
        case .outputs(let o):
            return "outputs\n" + o.keys.sorted().map { "\($0)=\(o[$0]!.hex)" }.joined(separator: "\n")
        case .interrupted: return "interrupted"
        case .failed(let message): return "failed\n" + message
        }
    }

    init(decoding text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let head = lines.isEmpty ? "" : lines.removeFirst()
        switch head {
        case "outputs":
            var o: [String: ObjectID] = [:]
            for line in lines where !line.isEmpty {
                guard let eq = line.lastIndex(of: "="), let id = ObjectID(String(line[line.index(after: eq)...])) else {
                    self = .failed("rank 0 sent an unreadable output line"); return
                }
                o[String(line[..<eq])] = id
            }
            self = .outputs(o)
        case "interrupted": self = .interrupted
        case "failed": self = .failed(lines.joined(separator: "\n"))
        default: self = .failed("rank 0 sent an unreadable outcome")
        }
    }
}
