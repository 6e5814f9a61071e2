import Foundation
import Tensors

/// Lifecycle of a run (`datasets/NAME/vNNNN/`).
public enum RunStatus: String, Codable, Sendable {
    case running, complete, failed, interrupted
}

/// Lifecycle of one stage inside a run. `cached`: the stage key was already in `keys/`.
public enum StageStatus: String, Codable, Sendable {
    case pending, running, complete, cached, failed
}

/// One stage's entry in run.json.
public struct StageRecord: Codable, Equatable, Sendable {
    /// The stage key (hex), see `StageKey`.
    public var key: String
    /// Input object ids or input digests, in the order they were hashed into the key.
    public var inputs: [String]
    /// Output name → object id.
    public var outputs: [String: ObjectID]
    public var started: Date?
    public var finished: Date?
    public var wallSeconds: Double?
    /// Peak resident set size of the process when the stage finished, in MiB.
    public var peakRSSMB: Double?
    public var status: StageStatus

    public init(key: String, inputs: [String], outputs: [String: ObjectID] = [:], started: Date? = nil,
                finished: Date? = nil, wallSeconds: Double? = nil, peakRSSMB: Double? = nil,
                status: StageStatus = .pending) {
        self.key = key
        self.inputs = inputs
        self.outputs = outputs
        self.started = started
        self.finished = finished
        self.wallSeconds = wallSeconds
        self.peakRSSMB = peakRSSMB
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case key, inputs, outputs, started, finished, status
        case wallSeconds = "wall_seconds"
        case peakRSSMB = "peak_rss_mb"
    }

    // Lenient: a missing field gets its default, so older or hand-edited run.json files still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.decodeIfPresent(String.self, forKey: .key) ?? ""
        inputs = try c.decodeIfPresent([String].self, forKey: .inputs) ?? []
        outputs = try c.decodeIfPresent([String: ObjectID].self, forKey: .outputs) ?? [:]
        started = try c.decodeIfPresent(Date.self, forKey: .started)
        finished = try c.decodeIfPresent(Date.self, forKey: .finished)
        wallSeconds = try c.decodeIfPresent(Double.self, forKey: .wallSeconds)
        peakRSSMB = try c.decodeIfPresent(Double.self, forKey: .peakRSSMB)
        status = try c.decodeIfPresent(StageStatus.self, forKey: .status) ?? .pending
    }
}

/// The contents of `run.json`: everything needed to understand and reproduce one run.
public struct RunRecord: Codable, Equatable, Sendable {
    /// Format version of this file.
    public var schema: Int = 1
    public var dataset: String
    public var version: Int
    public var status: RunStatus
    public var created: Date
    public var finished: Date?
    /// The code version of the program that made the run (e.g. a git describe string).
    public var codeVersion: String
    /// Snapshot of the manifest as given.
    public var manifest: JSONValue
    /// The resolved configuration (manifest + profile + defaults).
    public var config: JSONValue
    /// Stage name → record.
    public var stages: [String: StageRecord]
    /// Run-relative path (e.g. `checkpoints/ddpm.safetensors`) → object id it links to.
    public var files: [String: ObjectID]
    /// For failed runs: the one-line reason.
    public var error: String?
    /// The OpenBLAS kernel, how it was chosen, the CPU and the thread count of the process that made
    /// (or last resumed) the run: timings in `stages` mean little without them (docs/performance.md).
    public var blas: BLASInfo?

    public init(dataset: String, version: Int, status: RunStatus = .running, created: Date,
                codeVersion: String = "", manifest: JSONValue = .null, config: JSONValue = .null) {
        self.dataset = dataset
        self.version = version
        self.status = status
        self.created = created
        self.codeVersion = codeVersion
        self.manifest = manifest
        self.config = config
        self.stages = [:]
        self.files = [:]
    }

    enum CodingKeys: String, CodingKey {
        case schema, dataset, version, status, created, finished, manifest, config, stages, files, error, blas
        case codeVersion = "code_version"
    }

    // Lenient: `store ls` and `show` must read records written by older code or cut short by hand.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schema = try c.decodeIfPresent(Int.self, forKey: .schema) ?? 1
        dataset = try c.decodeIfPresent(String.self, forKey: .dataset) ?? ""
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 0
        status = try c.decodeIfPresent(RunStatus.self, forKey: .status) ?? .running
        created = try c.decodeIfPresent(Date.self, forKey: .created) ?? Date(timeIntervalSince1970: 0)
        finished = try c.decodeIfPresent(Date.self, forKey: .finished)
        codeVersion = try c.decodeIfPresent(String.self, forKey: .codeVersion) ?? ""
        manifest = try c.decodeIfPresent(JSONValue.self, forKey: .manifest) ?? .null
        config = try c.decodeIfPresent(JSONValue.self, forKey: .config) ?? .null
        stages = try c.decodeIfPresent([String: StageRecord].self, forKey: .stages) ?? [:]
        files = try c.decodeIfPresent([String: ObjectID].self, forKey: .files) ?? [:]
        error = try c.decodeIfPresent(String.self, forKey: .error)
        blas = try c.decodeIfPresent(BLASInfo.self, forKey: .blas)
    }

    /// Pretty, key-sorted JSON (stable diffs, readable with `cat`).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(self)) + [0x0a]
    }

    /// Parses run.json bytes.
    public static func decode(_ bytes: [UInt8]) throws -> RunRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(RunRecord.self, from: Data(bytes))
    }

    /// Every object the run references (stage outputs and linked files).
    public var referencedObjects: Set<ObjectID> {
        var ids = Set(files.values)
        for stage in stages.values { ids.formUnion(stage.outputs.values) }
        return ids
    }
}
