import Foundation
import Store

/// The chain's stages as a graph (DESIGN §1). Every stage's key is a pure function of the request (the
/// drop and the resolved configuration) and of its upstream stages' outputs, so any process that has
/// the request can rebuild any stage — the local chain, and a Slurm job that runs exactly one stage
/// (`fairgen stage run`, docs/cluster.md).
///
/// `outputs(node)` builds the node's stage (asking for its dependencies' outputs first) and hands it to
/// the `resolve` function given at creation: the local chain runs it through `StageRunner`; a stage job
/// runs its own stage and only looks the others up in the run-cache. Results are memoised.
public final class ChainPlan {
    /// One stage of the chain.
    public enum Node: Hashable, Sendable {
        case ingest, trainDDPM, trainUpsampler, fairSample, evaluate
        /// The classifier `config.variants[variant]` trained with `seed` (variant 0 is the baseline).
        case classify(variant: Int, seed: Int)
    }

    /// Thrown by a cache-only plan (`ChainPlan.cacheOnly`) for a stage that is not in the run-cache.
    public struct NotCached: Error, CustomStringConvertible {
        public let stage: String
        public let key: String
        public var description: String { "stage \(stage) (key \(key.prefix(12))) is not in the run-cache" }
    }

    public let config: ChainConfig
    /// The ingest stage (its key hashes the drop's files, so it is built by whoever has them).
    public let ingest: Stage
    /// An experiment level's training subset (docs/experiments.md): every stage after ingest reads the
    /// dataset it derives (stage `experiment-subset`) instead of the ingested one. nil for a plain run.
    public let subset: TrainingSubset?
    private let resolve: (Stage) throws -> [String: ObjectID]
    private var memo: [Node: [String: ObjectID]] = [:]
    private var derived: ObjectID?

    public init(config: ChainConfig, ingest: Stage, subset: TrainingSubset? = nil,
                resolve: @escaping (Stage) throws -> [String: ObjectID]) {
        self.config = config
        self.ingest = ingest
        self.subset = subset
        self.resolve = resolve
    }

    /// A plan that only reads the run-cache: `outputs` throws `NotCached` for a stage (or an upstream
    /// stage) whose key is not recorded.
    public static func cacheOnly(config: ChainConfig, ingest: Stage, store: Store) -> ChainPlan {
        ChainPlan(config: config, ingest: ingest) { stage in
            let key = try stage.key()
            guard let outputs = try store.lookup(stage: stage.name, key: key) else {
                throw NotCached(stage: stage.name, key: key.hex)
            }
            return outputs
        }
    }

    /// Every node in the order the local chain runs them: ingest, train-ddpm, train-upsampler, the
    /// baseline's seeds (its seed 0 audits the generator), fair-sample, the other variants × seeds, evaluate.
    public static func nodes(config: ChainConfig) -> [Node] {
        var out: [Node] = [.ingest, .trainDDPM]
        if config.upsampler != nil { out.append(.trainUpsampler) }
        let seeds = config.classify.seeds
        out += (0..<seeds).map { .classify(variant: 0, seed: $0) }
        out.append(.fairSample)
        for v in config.variants.indices.dropFirst() { out += (0..<seeds).map { .classify(variant: v, seed: $0) } }
        out.append(.evaluate)
        return out
    }

    /// The nodes whose outputs `node`'s stage takes as inputs.
    public static func dependencies(of node: Node, config: ChainConfig) -> [Node] {
        switch node {
        case .ingest: return []
        case .trainDDPM, .trainUpsampler: return [.ingest]
        case .classify(let v, _):
            return config.variants[v].usesSynthetic ? [.ingest, .fairSample] : [.ingest]
        case .fairSample:
            var deps: [Node] = [.ingest, .trainDDPM]
            if config.upsampler != nil { deps.append(.trainUpsampler) }
            if config.classify.seeds > 0 { deps.append(.classify(variant: 0, seed: 0)) }
            return deps
        case .evaluate:
            return nodes(config: config).filter { if case .classify = $0 { return true }; return $0 == .ingest || $0 == .fairSample }
        }
    }

    /// The stage name of a node (`ingest`, `train-ddpm`, `classify-baseline-seed0`, …).
    public static func stageName(_ node: Node, config: ChainConfig) -> String {
        switch node {
        case .ingest: return "ingest"
        case .trainDDPM: return "train-ddpm"
        case .trainUpsampler: return "train-upsampler"
        case .fairSample: return "fair-sample"
        case .evaluate: return "evaluate"
        case .classify(let v, let seed): return ClassifyStage.stageName(config.variants[v], seed: seed)
        }
    }

    /// The node a `fairgen stage run` selector names: a stage name of this chain (`train-ddpm`,
    /// `classify-synthetic_a0.50-seed1`, …), or `classify` with `variant` (a variant name) and `seed`, or
    /// with `task` (the index in variants × seeds order, i.e. `variant index × seeds + seed`, which is what
    /// a Slurm array job passes as `$SLURM_ARRAY_TASK_ID`).
    public static func node(stage: String, variant: String?, seed: Int?, task: Int?, config: ChainConfig) throws -> Node {
        let seeds = config.classify.seeds
        let variants = config.variants
        if stage == "classify" {
            if let task {
                guard seeds > 0, task >= 0, task < variants.count * seeds else {
                    throw PipelineError("--task \(task): expected 0…\(variants.count * seeds - 1) (\(variants.count) variants × \(seeds) seeds)")
                }
                return .classify(variant: task / seeds, seed: task % seeds)
            }
            guard let variant, let seed else {
                throw PipelineError("--stage classify needs --variant and --seed, or --task")
            }
            guard let v = variants.firstIndex(where: { $0.name == variant }) else {
                throw PipelineError("--variant \(variant): not a variant of this run (expected one of \(variants.map(\.name).joined(separator: ", ")))")
            }
            guard (0..<seeds).contains(seed) else { throw PipelineError("--seed \(seed): expected 0…\(seeds - 1)") }
            return .classify(variant: v, seed: seed)
        }
        guard variant == nil, seed == nil, task == nil else {
            throw PipelineError("--variant, --seed and --task go with --stage classify only")
        }
        let all = nodes(config: config)
        guard let found = all.first(where: { stageName($0, config: config) == stage }) else {
            throw PipelineError("--stage \(stage): not a stage of this run (expected ingest, train-ddpm, "
                                + (config.upsampler != nil ? "train-upsampler, " : "")
                                + "fair-sample, classify, a classify-VARIANT-seedN name, or evaluate)")
        }
        return found
    }

    /// The node's outputs (building, and resolving, its stage on first use).
    public func outputs(_ node: Node) throws -> [String: ObjectID] {
        if let known = memo[node] { return known }
        let outputs = try resolve(stage(node))
        memo[node] = outputs
        return outputs
    }

    /// The node's stage; its dependencies are resolved first.
    public func stage(_ node: Node) throws -> Stage {
        switch node {
        case .ingest:
            return ingest
        case .trainDDPM:
            return try DiffusionStages.trainDDPM(config: config, dataset: dataset())
        case .trainUpsampler:
            return try DiffusionStages.trainUpsampler(config: config, dataset: dataset())
        case .classify(let v, let seed):
            let variant = config.variants[v]
            return try ClassifyStage.stage(config: config, variant: variant, seed: seed, resolution: resolution,
                                           dataset: dataset(), shards: variant.usesSynthetic ? shards() : [])
        case .fairSample:
            let ddpm = try outputs(.trainDDPM)["checkpoint"]!
            let upsampler = config.upsampler != nil ? try outputs(.trainUpsampler)["checkpoint"]! : nil
            return try FairSampleStage.stage(config: config, dataset: dataset(), ddpm: ddpm, upsampler: upsampler,
                                             auditor: auditor())
        case .evaluate:
            var predictions: [String: ObjectID] = [:]
            for v in config.variants.indices {
                for seed in 0..<config.classify.seeds {
                    predictions["\(config.variants[v].name)/seed\(seed)"] = try outputs(.classify(variant: v, seed: seed))["predictions"]!
                }
            }
            return try EvaluateStage.stage(config: config, dataset: dataset(), predictions: predictions, auditor: auditor(),
                                           shards: shards(), levers: outputs(.fairSample)[FairSampleStage.leversOutput])
        }
    }

    /// The resolution classifiers train at (the upsampler's output, else the DDPM's).
    public var resolution: Int { config.upsampler?.to ?? config.ddpm.resolution }

    /// The dataset the stages after ingest read: the ingested one, or the experiment level's subset of it.
    func dataset() throws -> ObjectID {
        let ingested = try outputs(.ingest)[Store.singleOutputName]!
        guard let subset else { return ingested }
        if let derived { return derived }
        let made = try resolve(subset.stage(dataset: ingested))[Store.singleOutputName]!
        derived = made
        return made
    }

    /// The baseline's seed-0 checkpoint: it audits the generator (fair-sample's levers, evaluate's diagnostics).
    func auditor() throws -> ObjectID? {
        config.classify.seeds > 0 ? try outputs(.classify(variant: 0, seed: 0))["checkpoint"]! : nil
    }

    /// fair-sample's synthetic shards, in order.
    func shards() throws -> [ObjectID] {
        let sampled = try outputs(.fairSample)
        return sampled.keys.filter { $0.hasPrefix("shard-") }.sorted().map { sampled[$0]! }
    }
}
