import Distributed
import Foundation
import Text
import Store

/// One step of the data flow (DESIGN §1) as a pure function:
/// `outputs = body(config slice, input objects)`.
///
/// The stage's key is the SHA-256 of (name, code version, canonical JSON of `config`, inputs), see
/// `StageKey`; `StageRunner` skips the body when the store already maps that key to outputs. So the
/// body must depend on nothing but `config` and the input objects (and the thread count, which the
/// caller puts in `config` when it matters), and `codeVersion` must change whenever the body's
/// results would.
public struct Stage {
    /// Stage name, `[a-z0-9][a-z0-9._-]{0,63}` (it is also the folder under `store/keys/`).
    public var name: String
    /// Version of the stage's code; bump it when the body's output for the same inputs changes.
    public var codeVersion: String
    /// The slice of the resolved configuration this stage reads (and nothing more, so that other
    /// knobs do not invalidate it). Canonicalised before hashing.
    public var config: JSONValue
    /// Named input objects (`"dataset"`, `"checkpoint"`, …), usually outputs of upstream stages.
    public var inputs: [String: ObjectID]
    /// The work. Returns named outputs; the runner stores them as objects.
    public var body: (StageContext) throws -> [String: StageOutput]
    /// Explicit key inputs for a stage whose inputs are not store objects (ingest hashes the digests
    /// of the manifest and archive files, in that order, like `fairgen ingest`); nil for the default.
    public var explicitKeyInputs: [String]?
    /// True for a stage whose body runs on every MPI rank and shares its work through the context's
    /// communicator (the diffusion training stages); other stages run on rank 0 alone (docs/mpi.md).
    /// Not part of the key: the outputs' bytes do not depend on the number of ranks.
    public var dataParallel = false

    /// A stage whose config slice is given as a JSON value.
    public init(name: String, codeVersion: String, config: JSONValue, inputs: [String: ObjectID] = [:],
                keyInputs: [String]? = nil, body: @escaping (StageContext) throws -> [String: StageOutput]) {
        self.name = name
        self.codeVersion = codeVersion
        self.config = config
        self.inputs = inputs
        self.explicitKeyInputs = keyInputs
        self.body = body
    }

    /// A stage whose config slice is any Encodable value (a config struct); it is converted to JSON.
    public init<C: Encodable>(name: String, codeVersion: String, config: C, inputs: [String: ObjectID] = [:],
                              keyInputs: [String]? = nil,
                              body: @escaping (StageContext) throws -> [String: StageOutput]) throws {
        self.init(name: name, codeVersion: codeVersion, config: try JSONValue.from(config), inputs: inputs,
                  keyInputs: keyInputs, body: body)
    }

    /// The inputs as hashed into the key and recorded in run.json: `explicitKeyInputs` when given,
    /// otherwise `name=<object id>` sorted by name, so that the key does not depend on dictionary
    /// order and a renamed or swapped input changes it.
    public var keyInputs: [String] {
        explicitKeyInputs ?? inputs.keys.sorted().map { $0 + "=" + inputs[$0]!.hex }
    }

    /// This stage's cache key.
    public func key() throws -> StageKey {
        try StageKey.compute(stage: name, codeVersion: codeVersion, config: config, inputs: keyInputs)
    }
}

/// One output of a stage body, before it is stored.
public enum StageOutput {
    /// Bytes in memory (metrics.json, a small table).
    case bytes([UInt8])
    /// A finished file (e.g. a tar shard in the context's scratch folder); streamed into the store.
    case file(URL)
    /// An object the body already put into the store itself (e.g. through `ShardWriter`).
    case object(ObjectID)
}

/// A progress event: one at each stage start and end, and periodic ones from inside long stages.
public enum ProgressEvent: Sendable, Equatable {
    /// The stage's key was computed; `cached` tells whether the body will be skipped.
    case stageStarted(stage: String, key: String, cached: Bool)
    /// The stage ended (`complete`, `cached` or `failed`).
    case stageFinished(stage: String, status: StageStatus, wallSeconds: Double)
    /// Inside a stage: `step` of `total` done, the last loss (if any), steps per second, and the
    /// estimated seconds left at that rate.
    case step(stage: String, step: Int, total: Int, loss: Double?, rate: Double, etaSeconds: Double)
}

/// What a stage body sees: its config slice, its input objects, the store (read access), a scratch
/// folder, and a progress reporter.
public final class StageContext {
    /// The stage being run.
    public let stage: String
    /// Its config slice.
    public let config: JSONValue
    /// Its named input objects.
    public let inputs: [String: ObjectID]
    /// The store (for reading inputs and putting streamed outputs).
    public let store: Store
    /// A private folder for temporary files (under `store/tmp/`, on the objects' file system so that
    /// files move in cheaply); removed after the stage ends.
    public let scratch: URL
    /// This stage's key.
    public let key: StageKey
    /// A folder that survives a crash (`store/tmp/resume/<stage>-<key>/`): long stages keep their
    /// training checkpoints here so that a rerun of the same key resumes instead of starting over.
    /// The runner removes it once the stage's outputs are recorded.
    public let resumeDirectory: URL
    /// Polled by long stages between steps; when it returns true they checkpoint into
    /// `resumeDirectory` and throw `StageInterrupted`.
    public let shouldStop: () -> Bool
    /// The ranks running this body (one process unless the stage is `dataParallel` under MPI). Only the
    /// writer (rank 0) may write: checkpoints, resume files and store objects.
    public let communicator: any Communicator
    /// True on the rank that writes (always, outside MPI).
    public var isWriter: Bool { communicator.isWriter }

    private let emit: (ProgressEvent) -> Void
    private let minInterval: Double
    private let clock: () -> Double
    private let startTime: Double
    private var lastEmit: Double = -Double.infinity

    init(stage: String, config: JSONValue, inputs: [String: ObjectID], store: Store, scratch: URL,
         key: StageKey, resumeDirectory: URL, shouldStop: @escaping () -> Bool,
         progressInterval: Double, clock: @escaping () -> Double, communicator: any Communicator = SingleProcess(),
         emit: @escaping (ProgressEvent) -> Void) {
        self.stage = stage
        self.communicator = communicator
        self.key = key
        self.resumeDirectory = resumeDirectory
        self.shouldStop = shouldStop
        self.config = config
        self.inputs = inputs
        self.store = store
        self.scratch = scratch
        self.minInterval = progressInterval
        self.clock = clock
        self.startTime = clock()
        self.emit = emit
    }

    /// The object of input `name`; throws a message naming the stage and the input when it is missing.
    public func input(_ name: String) throws -> ObjectID {
        guard let id = inputs[name] else {
            throw PipelineError("stage \(stage): missing input '\(name)' (have: \(inputs.keys.sorted().joined(separator: ", ")))")
        }
        return id
    }

    /// Reads input `name`'s bytes from the store.
    public func readInput(_ name: String) throws -> [UInt8] {
        try store.objects.read(input(name))
    }

    /// Reports that `step` of `total` steps are done. Events are rate-limited to one per
    /// `progressInterval` seconds, except the last step, which is always reported.
    public func progress(step: Int, total: Int, loss: Double? = nil) {
        let now = clock()
        guard step >= total || now - lastEmit >= minInterval else { return }
        lastEmit = now
        let elapsed = max(now - startTime, 1e-9)
        let rate = Double(step) / elapsed
        let eta = rate > 0 ? Double(max(total - step, 0)) / rate : .infinity
        emit(.step(stage: stage, step: step, total: total, loss: loss, rate: rate, etaSeconds: eta))
    }
}

/// Thrown by a stage that stopped because `StageContext.shouldStop` said so; its progress is saved in
/// the resume folder and a rerun continues from there.
public struct StageInterrupted: Error, CustomStringConvertible, Sendable {
    public let stage: String
    public init(stage: String) { self.stage = stage }
    public var description: String { "stage \(stage) interrupted (progress saved; it resumes on the next run)" }
}

/// An error raised by the pipeline itself (missing input, stage failure), with a readable message.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// The message is rendered with `UntrustedText.terminal`: it may name classes, columns or files.
    /// `underlying` is the error this one wraps (a stage body's own failure), so that callers can still
    /// tell an environment failure such as a full disk from a rejected input.
    public let underlying: (any Error)?
    public init(_ message: String, underlying: (any Error)? = nil) {
        self.message = UntrustedText.terminal(message)
        self.underlying = underlying
    }
    public var description: String { message }
}
