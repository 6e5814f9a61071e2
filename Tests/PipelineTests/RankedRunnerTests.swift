import Distributed
import Foundation
import Testing
import Tensors
@testable import Pipeline
import Store

/// StageRunner under several ranks (Runner+Ranks.swift, docs/mpi.md), with in-process loopback ranks.
@Suite struct RankedRunnerTests {
    /// Runs `body(rank, communicator)` on `ranks` loopback ranks (one thread each, one compute thread).
    static func onRanks<T>(_ ranks: Int, _ body: @escaping (Int, any Communicator) throws -> T) -> [Result<T, Error>] {
        LoopbackGroup(size: ranks).run { r, comm in try Parallel.withThreads(1) { try body(r, comm) } }
    }

    final class Box<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Result<T, Error>?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ v: Result<T, Error>) { lock.lock(); values[i] = v; lock.unlock() }
        var all: [Result<T, Error>] { lock.lock(); defer { lock.unlock() }; return values.map { $0! } }
    }

    /// Every file under `url` with its bytes (to prove a rank wrote nothing).
    static func snapshot(_ url: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil)
        while let f = e?.nextObject() as? URL {
            out[f.path] = (try? Data(contentsOf: f)) ?? Data("dir".utf8)
        }
        return out
    }

    static let check = TrainCheckStage.Settings(steps: 4, batch: 4, microBatches: 2, seed: 5)

    /// Rank 0 does everything one process does; rank 1, given a store of its own, leaves it untouched
    /// (no object, key, resume file or run.json change), skips the bodies of ordinary stages, runs the
    /// data-parallel training body, and gets rank 0's output ids — which equal one process's.
    @Test func onlyRankZeroWrites() throws {
        let a = try PipelineTempStore(), b = try PipelineTempStore(), single = try PipelineTempStore()
        defer { a.remove(); b.remove(); single.remove() }
        let runA = try a.store.createRun(dataset: "demo"), runB = try b.store.createRun(dataset: "demo")
        let before = Self.snapshot(b.url)
        let chains = [FakeChain(), FakeChain()]
        let results = Self.onRanks(2) { rank, comm in
            let runner = StageRunner(store: rank == 0 ? a.store : b.store, run: rank == 0 ? runA : runB, communicator: comm)
            let chain = try chains[rank].run(runner, configB: 1)
            return (chain, try runner.run(try TrainCheckStage.stage(Self.check)))
        }
        let out0 = try results[0].get(), out1 = try results[1].get()
        #expect(out0.0 == out1.0 && out0.1 == out1.1)
        #expect(chains[0].executions == ["a": 1, "b": 1, "c": 1] && chains[1].executions.isEmpty)
        #expect(Self.snapshot(b.url) == before, "rank 1 wrote into its store")
        let record = try a.store.runRecord(dataset: "demo", version: 1)
        #expect(record.stages["train-check"]?.status == .complete && record.stages["train-check"]?.outputs == out0.1)
        let alone = try StageRunner(store: single.store, run: nil, communicator: SingleProcess())
            .run(try TrainCheckStage.stage(Self.check))
        #expect(alone == out0.1)
        #expect(a.store.objects.exists(out0.1["checkpoint"]!))
    }

    /// A cached data-parallel stage runs on no rank; a failure on rank 0 reaches the other ranks.
    @Test func cacheDecisionAndFailureAreShared() throws {
        let tmp = try PipelineTempStore()
        defer { tmp.remove() }
        let runs = Box<Int>(count: 2)
        for r in 0..<2 { runs.set(r, .success(0)) }
        func stage() throws -> Stage {
            var s = Stage(name: "gather", codeVersion: "1", config: .object(["n": .number(1)])) { ctx in
                let r = ctx.communicator.rank
                runs.set(r, .success(try runs.all[r].get() + 1))
                let all = ctx.communicator.allgather([Float(r + 10)])
                return ["out": .bytes(all.map { UInt8($0) })]
            }
            s.dataParallel = true
            return s
        }
        for _ in 0..<2 {
            let results = Self.onRanks(2) { _, comm in try StageRunner(store: tmp.store, run: nil, communicator: comm).run(try stage()) }
            let ids = try results.map { try $0.get() }
            let bytes = try tmp.store.objects.read(ids[0]["out"]!)
            #expect(ids[0] == ids[1] && bytes == [10, 11])
        }
        let counts = try runs.all.map { try $0.get() }
        #expect(counts == [1, 1], "the cached second run must not run the body on any rank")

        let failed = Self.onRanks(2) { _, comm in
            try StageRunner(store: tmp.store, run: nil, communicator: comm).run(
                Stage(name: "boom", codeVersion: "1", config: .object([:])) { _ in throw PipelineError("disk full") })
        }
        for r in failed {
            #expect(throws: PipelineError.self) { try r.get() }
        }
        if case .failure(let e) = failed[1] { #expect("\(e)".contains("failed on rank 0") && "\(e)".contains("disk full")) }
    }

    /// When rank 0 fails before the body (here: its run folder is gone, so run.json cannot be written), the
    /// other ranks do not start the body either — they would wait in its collectives — and get the error.
    @Test func failureBeforeTheBodyRunsItOnNoRank() throws {
        let tmp = try PipelineTempStore()
        defer { tmp.remove() }
        let run = try tmp.store.createRun(dataset: "demo")
        try FileManager.default.removeItem(at: run.directory)
        let bodies = Box<Int>(count: 2)
        for r in 0..<2 { bodies.set(r, .success(0)) }
        var stage = Stage(name: "gather", codeVersion: "1", config: .object([:])) { ctx in
            bodies.set(ctx.communicator.rank, .success(1))
            return ["out": .bytes(ctx.communicator.allgather([1]).map { UInt8($0) })]
        }
        stage.dataParallel = true
        let results = Self.onRanks(2) { rank, comm in
            try StageRunner(store: tmp.store, run: rank == 0 ? run : nil, communicator: comm).run(stage)
        }
        for r in results { #expect(throws: (any Error).self) { try r.get() } }
        if case .failure(let e) = results[1] { #expect("\(e)".contains("failed on rank 0"), "\(e)") }
        let ran = try bodies.all.map { try $0.get() }
        #expect(ran == [0, 0])
    }

    /// A stop requested on rank 0 stops every rank at the same step; the rerun resumes on both ranks from
    /// the one resume checkpoint rank 0 wrote and ends with the uninterrupted run's checkpoint.
    @Test func interruptAndResumeAcrossRanks() throws {
        let tmp = try PipelineTempStore(), single = try PipelineTempStore()
        defer { tmp.remove(); single.remove() }
        var settings = Self.check
        settings.steps = 6
        let stopped = Self.onRanks(2) { rank, comm in
            let runner = StageRunner(store: tmp.store, run: nil, communicator: comm)
            var polls = 0
            if rank == 0 { runner.shouldStop = { polls += 1; return polls > 3 } }
            return try runner.run(try TrainCheckStage.stage(settings))
        }
        for r in stopped { #expect(throws: StageInterrupted.self) { try r.get() } }
        let key = try TrainCheckStage.stage(settings).key()
        let resume = StageRunner.resumeDirectory(store: tmp.store, stage: "train-check", key: key)
            .appendingPathComponent("training.safetensors")
        #expect(FileManager.default.fileExists(atPath: resume.path))
        let resumed = Self.onRanks(2) { _, comm in
            try StageRunner(store: tmp.store, run: nil, communicator: comm).run(try TrainCheckStage.stage(settings))
        }
        let alone = try StageRunner(store: single.store, run: nil, communicator: SingleProcess()).run(try TrainCheckStage.stage(settings))
        for r in resumed { #expect(try r.get() == alone) }
    }
}
