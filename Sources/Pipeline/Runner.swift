import Distributed
import Foundation
import Logging
import Store

/// Runs stages against a store with the run-cache of DESIGN §1 and records each one in the run's
/// run.json (docs/pipeline.md lists the fields):
///
/// 1. compute the stage key;
/// 2. if `store/keys/<stage>/<key>` maps it to outputs whose objects exist and still hash to their
///    ids, skip the body and reuse them (status `cached`); a corrupt output is logged and the stage
///    runs again, which replaces the corrupt object;
/// 3. otherwise mark the stage `running`, run the body, store its outputs as objects, record
///    key → outputs, and mark it `complete` with wall time and peak RSS;
/// 4. on an error, mark the stage and the run `failed` with the message and rethrow.
///
/// Every run.json change is an atomic rewrite (Store's `RunHandle`), so readers such as
/// `fairgen store show` always see valid JSON.
public final class StageRunner {
    /// The store holding objects and keys.
    public let store: Store
    /// The run being recorded; nil runs stages without a run.json (tests, one-off commands).
    public let run: RunHandle?
    /// Where progress goes besides the callback: one info line per stage start/end and per step event.
    public var logger: Logger
    /// Minimum seconds between two `step` events of one stage (the last step is always reported).
    public var progressInterval: Double
    /// Polled by long stages (see `StageContext.shouldStop`); the daemon sets it on SIGTERM.
    public var shouldStop: () -> Bool = { false }
    /// The MPI ranks this process belongs to (`World.shared`: one process unless started by mpirun/srun).
    /// With more than one, only rank 0 writes anything (Runner+Ranks.swift, docs/mpi.md).
    public let communicator: any Communicator
    /// Whether a failed or interrupted stage also marks the whole run `failed` / `interrupted`. A Slurm
    /// stage job leaves that to the coordinator, which may resubmit it (docs/cluster.md).
    public var recordsRunStatus = true
    private let onEvent: (ProgressEvent) -> Void
    let clock: () -> Double

    /// A runner. `onEvent` receives every progress event (synchronously, on the stage's thread).
    public init(store: Store, run: RunHandle?, logger: Logger = Logger(label: "fairgen.pipeline"),
                progressInterval: Double = 10, communicator: any Communicator = World.shared,
                onEvent: @escaping (ProgressEvent) -> Void = { _ in }) {
        self.communicator = communicator
        self.store = store
        self.run = run
        self.logger = logger
        self.progressInterval = progressInterval
        self.onEvent = onEvent
        self.clock = { Date().timeIntervalSinceReferenceDate }
    }

    /// Runs (or reuses) `stage` and returns its outputs by name. Under MPI every rank calls this for
    /// every stage; rank 0 does the work below and the others follow (`runRanked`).
    @discardableResult
    public func run(_ stage: Stage) throws -> [String: ObjectID] {
        communicator.size > 1 ? try runRanked(stage) : try runLocal(stage, decided: { _ in })
    }

    /// The single-writer path. `decided(cached)` is called on a cache hit, or right before the body runs —
    /// after every write that could fail first (run.json, scratch folder), so that under MPI the other ranks
    /// start the body only when rank 0 does too.
    func runLocal(_ stage: Stage, decided: (_ cached: Bool) -> Void) throws -> [String: ObjectID] {
        let key = try stage.key()
        let inputs = stage.keyInputs
        let start = clock()
        let hit = try store.lookup(stage: stage.name, key: key) { [logger] id in
            logger.warning("\(stage.name): cached output object \(id.hex) is corrupt (its bytes no longer hash to its id); running the stage again to replace it")
        }
        func reuse(_ outputs: [String: ObjectID]) throws -> [String: ObjectID] {
            decided(true)
            emit(.stageStarted(stage: stage.name, key: key.hex, cached: true))
            try run?.stageStarted(stage.name, key: key, inputs: inputs)
            let wall = clock() - start
            try run?.stageFinished(stage.name, outputs: outputs, status: .cached, wallSeconds: wall)
            emit(.stageFinished(stage: stage.name, status: .cached, wallSeconds: wall))
            return outputs
        }
        if let outputs = hit { return try reuse(outputs) }
        // One process runs a key at a time, whichever node it is on (Slurm jobs, daemons sharing a store
        // over NFS): a lease lock that holds on shared file systems (docs/cluster.md). Whoever waited
        // finds the other's outputs recorded and reuses them.
        let stageLock = try store.leaseLock("stage-\(stage.name)-\(key.hex.prefix(16)).lock", purpose: "stage \(stage.name)",
                                            wait: nil) { [logger] holder in
            logger.notice("\(stage.name): \(holder?.description ?? "another process") is running this stage; waiting for it")
        }
        defer { stageLock.release() }
        if let outputs = try store.lookup(stage: stage.name, key: key) { return try reuse(outputs) }

        emit(.stageStarted(stage: stage.name, key: key.hex, cached: false))
        try run?.stageStarted(stage.name, key: key, inputs: inputs)
        // Named by the key, so that the scratch folder of a process that died running this same stage
        // (only one process runs a key: the dataset lock) is found and cleared here.
        let scratch = store.root.appendingPathComponent("tmp")
            .appendingPathComponent("stage-\(stage.name)-\(key.hex.prefix(16))")
        try? FileManager.default.removeItem(at: scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let resumeDirectory = StageRunner.resumeDirectory(store: store, stage: stage.name, key: key)
        if let saved = try? FileManager.default.contentsOfDirectory(atPath: resumeDirectory.path), !saved.isEmpty {
            logger.notice("\(stage.name): resuming from the checkpoint in \(resumeDirectory.path)")
        }
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let context = StageContext(stage: stage.name, config: stage.config, inputs: stage.inputs, store: store,
                                       scratch: scratch, key: key, resumeDirectory: resumeDirectory,
                                       shouldStop: bodyShouldStop(stage), progressInterval: progressInterval, clock: clock,
                                       communicator: bodyCommunicator(stage), emit: { [weak self] in self?.emit($0) })
            decided(false)
            let produced = try stage.body(context)
            guard !produced.isEmpty else { throw PipelineError("stage \(stage.name) produced no outputs") }
            var outputs: [String: ObjectID] = [:]
            for name in produced.keys.sorted() {
                switch produced[name]! {
                case .bytes(let bytes): outputs[name] = try store.objects.put(bytes)
                case .file(let url): outputs[name] = try store.objects.put(contentsOf: url)
                case .object(let id):
                    guard store.objects.exists(id) else {
                        throw PipelineError("stage \(stage.name): output '\(name)' object \(id.hex) is not in the store")
                    }
                    outputs[name] = id
                }
            }
            // If another process recorded this key meanwhile, its outputs win (keys are written once).
            let kept = try store.record(stage: stage.name, key: key, outputs: outputs)
            try? FileManager.default.removeItem(at: resumeDirectory)
            rmdir(resumeDirectory.deletingLastPathComponent().path)      // `resume/` itself, once empty
            let wall = clock() - start
            try run?.stageFinished(stage.name, outputs: kept, status: .complete, wallSeconds: wall)
            emit(.stageFinished(stage: stage.name, status: .complete, wallSeconds: wall))
            return kept
        } catch let interrupted as StageInterrupted {
            let wall = clock() - start
            try? run?.stageFinished(stage.name, outputs: [:], status: .pending, wallSeconds: wall)
            if recordsRunStatus { try? run?.markInterrupted() }
            emit(.stageFinished(stage: stage.name, status: .pending, wallSeconds: wall))
            throw interrupted
        } catch {
            let wall = clock() - start
            let message = "stage \(stage.name) failed: \(error)"
            try? run?.stageFinished(stage.name, outputs: [:], status: .failed, wallSeconds: wall)
            if recordsRunStatus { try? run?.fail(message) }
            emit(.stageFinished(stage: stage.name, status: .failed, wallSeconds: wall))
            throw PipelineError(message, underlying: error)
        }
    }

    /// Where stage `stage` with `key` keeps its crash-surviving state.
    public static func resumeDirectory(store: Store, stage: String, key: StageKey) -> URL {
        store.root.appendingPathComponent("tmp").appendingPathComponent("resume")
            .appendingPathComponent("\(stage)-\(key.hex.prefix(16))")
    }

    func emit(_ event: ProgressEvent) {
        logger.info("\(StageRunner.describe(event))")
        onEvent(event)
    }

    /// The log line for an event, e.g.
    /// `train-ddpm: step 1200/6000 loss 0.0412 18.3 steps/s ETA 4m22s`.
    public static func describe(_ event: ProgressEvent) -> String {
        switch event {
        case .stageStarted(let stage, let key, let cached):
            return "\(stage): start (key \(key.prefix(12))\(cached ? ", cached" : ""))"
        case .stageFinished(let stage, let status, let wall):
            return "\(stage): \(status.rawValue) in \(formatDuration(wall))"
        case .step(let stage, let step, let total, let loss, let rate, let eta):
            var text = "\(stage): step \(step)/\(total)"
            if let loss { text += " loss " + String(format: "%.4f", loss) }
            text += " " + String(format: "%.1f", rate) + " steps/s ETA " + formatDuration(eta)
            return text
        }
    }

    /// `0.42s`, `12.0s`, `4m22s`, `1h03m`; `?` for an unknown (infinite or NaN) duration.
    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        if seconds < 10 { return String(format: "%.2fs", seconds) }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let s = Int(seconds.rounded())
        if s < 3600 { return "\(s / 60)m" + String(format: "%02ds", s % 60) }
        return "\(s / 3600)h" + String(format: "%02dm", (s % 3600) / 60)
    }
}
