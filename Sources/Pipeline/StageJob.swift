import Datasets
import Foundation
import Logging
import Store
import Tensors

/// Runs the chain's stages somewhere other than this process (a Slurm cluster, docs/cluster.md).
/// `Chain.run` hands it the run once the version is open; it returns when every stage is recorded in the
/// run-cache, and the chain then files the version from there, exactly as a local run would.
public protocol ChainExecutor {
    /// Short name for messages (`slurm`).
    var name: String { get }
    /// Runs every stage of `execution` that is not in the run-cache. Throws `StageInterrupted` when
    /// `execution.shouldStop` asked it to stop, anything else when a stage failed for good.
    func execute(_ execution: ChainExecution) throws
}

/// What an executor gets from the chain.
public struct ChainExecution {
    public let store: Store
    /// The open version; `sharedWriters` is set, since stage jobs write its run.json too.
    public let run: RunHandle
    public let config: ChainConfig
    public let ingest: Stage
    /// The request (`run.json` `config.request`): stage jobs check they rebuild the same one.
    public let request: String
    /// The drop as given to the chain (manifest, archive).
    public let manifestPath: String
    public let archivePath: String
    public let profile: Profile
    public let threads: Int
    public let codeVersion: String
    public let logger: Logger
    public let shouldStop: () -> Bool
    /// The chain's checks on the ingested dataset (time estimate, "no synthetic image" refusal): call
    /// it once ingest is in the run-cache and before starting the long stages.
    public let preflight: () throws -> Void

    public init(store: Store, run: RunHandle, config: ChainConfig, ingest: Stage, request: String, manifestPath: String,
                archivePath: String, profile: Profile, threads: Int, codeVersion: String, logger: Logger,
                shouldStop: @escaping () -> Bool, preflight: @escaping () throws -> Void) {
        self.store = store; self.run = run; self.config = config; self.ingest = ingest; self.request = request
        self.manifestPath = manifestPath; self.archivePath = archivePath; self.profile = profile; self.threads = threads
        self.codeVersion = codeVersion; self.logger = logger; self.shouldStop = shouldStop; self.preflight = preflight
    }

    /// A plan that only reads the run-cache (which stages still need a job).
    public func cachedPlan() -> ChainPlan { ChainPlan.cacheOnly(config: config, ingest: ingest, store: store) }
}

/// One stage of a run, run by itself: what a Slurm job executes (`fairgen stage run`).
///
/// The executor writes a job spec into `store/cluster/NAME/vNNNN/` (`prepare`): a copy of the manifest,
/// the path of the archive the run keeps under `input/`, the profile, the thread count and the request.
/// The job rebuilds the chain's plan from it (stage keys are pure functions of the request), checks that
/// it yields the same request, looks every upstream stage up in the run-cache (failing if one is missing),
/// and runs exactly its stage through `StageRunner`: the same atomic object, key and run.json writes as a
/// local run. Nothing about the outputs depends on where the job ran.
public enum StageJob {
    /// The job spec (`job.json`).
    public struct Spec: Codable, Sendable, Equatable {
        public var manifest: String
        public var archive: String
        public var profile: Profile
        public var threads: Int
        public var codeVersion: String
        public var request: String

        enum CodingKeys: String, CodingKey {
            case manifest, archive, profile, threads, request
            case codeVersion = "code_version"
        }
    }

    /// `store/cluster/NAME/vNNNN`: job spec, job scripts, job logs, submitted job ids.
    public static func folder(store: Store, dataset: String, version: Int) -> URL {
        store.root.appendingPathComponent("cluster").appendingPathComponent(dataset)
            .appendingPathComponent(Store.versionName(version))
    }

    /// Writes the job spec of `execution`'s run and returns its folder.
    @discardableResult
    public static func prepare(_ execution: ChainExecution) throws -> URL {
        let run = execution.run
        let folder = folder(store: execution.store, dataset: run.dataset, version: run.version)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The manifest's bytes (its digest is part of ingest's key) under its own name (YAML or JSON).
        let manifest = folder.appendingPathComponent(URL(fileURLWithPath: execution.manifestPath).lastPathComponent)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: execution.manifestPath))
        try bytes.write(to: manifest, options: .atomic)
        // The archive the run keeps (a link to its object): it outlives the inbox copy the daemon removes.
        guard let kept = run.record.files.keys.first(where: { $0.hasPrefix("input/") }) else {
            throw PipelineError("run \(run.dataset)/\(Store.versionName(run.version)) keeps no input archive")
        }
        let spec = Spec(manifest: manifest.path, archive: run.directory.appendingPathComponent(kept).path,
                        profile: execution.profile, threads: execution.threads, codeVersion: execution.codeVersion,
                        request: execution.request)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(spec).write(to: folder.appendingPathComponent("job.json"), options: .atomic)
        return folder
    }

    /// What `run` did.
    public struct Outcome: Sendable {
        public var stage: String
        public var status: StageStatus
        public var outputs: [String: ObjectID]
    }

    /// Runs the stage `stage` (a stage name, or `classify` with `variant`+`seed` or `task`) of run
    /// `dataset`/`version`. Throws a `PipelineError` naming what is missing or wrong; `StageInterrupted`
    /// when `shouldStop` asked it to stop (its checkpoint is saved; a rerun resumes).
    public static func run(store: Store, dataset: String, version: Int, stage: String, variant: String? = nil,
                           seed: Int? = nil, task: Int? = nil, logger: Logger, progressInterval: Double = 10,
                           shouldStop: @escaping () -> Bool = { false }) throws -> Outcome {
        let folder = folder(store: store, dataset: dataset, version: version)
        let specPath = folder.appendingPathComponent("job.json")
        guard let data = FileManager.default.contents(atPath: specPath.path) else {
            throw PipelineError("\(specPath.path): no job spec (run \(dataset)/\(Store.versionName(version)) was not started with an executor)")
        }
        let spec: Spec
        do { spec = try JSONDecoder().decode(Spec.self, from: data) } catch {
            throw PipelineError("\(specPath.path): not a valid job spec (\(error))")
        }
        let threads = max(1, spec.threads)
        Parallel.threads = threads
        BLAS.setThreads(threads)
        let dropped = try Manifest.load(path: spec.manifest, requireArchive: false)
        let manifest = spec.profile == .paper ? try PaperPreset.apply(to: dropped, file: spec.manifest) : dropped
        let config = ChainConfig.resolve(manifest: manifest, profile: spec.profile, threads: spec.threads)
        let ingest = try IngestStage.stage(manifestPath: spec.manifest, manifest: manifest, archivePath: spec.archive)
        let request = try ingest.key().hex + "/" + StageKey.compute(stage: "chain", codeVersion: Chain.codeVersion,
                                                                     config: JSONValue.from(config), inputs: []).hex
        guard request == spec.request else {
            throw PipelineError("\(specPath.path): this fairgen rebuilds another request from the job spec "
                                + "(\(request.prefix(20))… instead of \(spec.request.prefix(20))…); the job must run the same fairgen build as the coordinator")
        }
        let target = try ChainPlan.node(stage: stage, variant: variant, seed: seed, task: task, config: config)
        let targetName = ChainPlan.stageName(target, config: config)

        let run = try store.openRun(dataset: dataset, version: version)
        run.sharedWriters = true
        guard case .object(let c) = run.record.config, c["request"] == .string(request) else {
            throw PipelineError("run \(dataset)/\(Store.versionName(version)) was made for another request than \(specPath.path)")
        }
        var status = StageStatus.pending
        let runner = StageRunner(store: store, run: run, logger: logger, progressInterval: progressInterval) { event in
            if case .stageFinished(_, let s, _) = event { status = s }
        }
        runner.shouldStop = shouldStop
        runner.recordsRunStatus = false
        let plan = ChainPlan(config: config, ingest: ingest) { stage in
            if stage.name == targetName { return try runner.run(stage) }
            let key = try stage.key()
            guard let outputs = try store.lookup(stage: stage.name, key: key) else {
                throw PipelineError("stage \(targetName): its input stage \(stage.name) (key \(key.hex.prefix(12))) is not in the run-cache; "
                                    + "run that stage first (the executor orders jobs with afterok dependencies)")
            }
            return outputs
        }
        let outputs = try plan.outputs(target)
        return Outcome(stage: targetName, status: status, outputs: outputs)
    }
}
