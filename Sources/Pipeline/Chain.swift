import Datasets
import Foundation
import Logging
import Store
import Tensors

/// The whole chain of DESIGN §1 for one drop: ingest → train-ddpm → train-upsampler → fair-sample →
/// classify (every variant × seed; the α mix happens inside) → evaluate, recorded as one version
/// `store/datasets/NAME/vNNNN/` with metrics.json, report.html, checkpoints, shards and sample grids.
///
/// Every stage goes through `StageRunner`, so a stage whose key is already in `store/keys/` is reused:
/// dropping the same archive again makes a new version in seconds. A run that was interrupted (stop
/// request, or a crash: its run.json still says `running`) for the same request is reopened rather than
/// duplicated, and its training stages resume from their last checkpoint.
public enum Chain {
    /// Version of the chain's own code (how it files results); stage versions are separate.
    public static let codeVersion = "fairgen-chain-1"

    /// What a finished chain reports.
    public struct Result: Sendable {
        public var dataset: String
        public var version: Int
        public var runDirectory: URL
        public var metrics: MetricsSummary
        /// Stages whose outputs were reused from the run-cache, and those that ran.
        public var cachedStages: [String]
        public var ranStages: [String]
    }

    /// Options of one chain run.
    public struct Options {
        public var profile: Profile
        public var threads: Int
        public var logger: Logger
        /// Seconds between two progress lines of one stage.
        public var progressInterval: Double
        /// Polled between training steps and stages; true → checkpoint and throw `StageInterrupted`.
        public var shouldStop: () -> Bool
        /// Every progress event (besides the log line).
        public var onEvent: (ProgressEvent) -> Void
        /// Recorded as the run's `code_version` (`fairgen reprocess --if-stale` compares it).
        public var codeVersion: String = Chain.codeVersion
        /// Where the stages run: nil for this process; a `ChainExecutor` (Slurm, docs/cluster.md) runs
        /// them as jobs, and the chain then files the version from the run-cache. The bytes are the same.
        public var executor: (any ChainExecutor)? = nil

        public init(profile: Profile = .default, threads: Int = 2, logger: Logger = Logger(label: "fairgen.pipeline"),
                    progressInterval: Double = 10, shouldStop: @escaping () -> Bool = { false },
                    onEvent: @escaping (ProgressEvent) -> Void = { _ in }) {
            self.profile = profile; self.threads = threads; self.logger = logger
            self.progressInterval = progressInterval; self.shouldStop = shouldStop; self.onEvent = onEvent
        }
    }

    /// Runs the chain for the drop whose manifest is at `manifestPath` into `store`. The archive is the
    /// manifest's `archive:` beside it, or `archivePath` (a reprocess uses the copy kept in the store).
    /// `level`: one level of an experiment (`Experiment.run`): its training subset runs as a stage after
    /// ingest and its settings override the resolved configuration; it is part of the request, so each
    /// level is its own version (and its own resume).
    public static func run(manifestPath: String, archivePath: String? = nil, store: Store, options: Options,
                           level: ExperimentLevel? = nil) throws -> Result {
        // `--threads` sets the math's threads for the whole process (results do not depend on it:
        // the GEMM layers split batches into a fixed number of shards, docs/performance.md).
        let threads = max(1, options.threads)
        Parallel.threads = threads
        BLAS.setThreads(threads)
        let dropped = try Manifest.load(path: manifestPath, requireArchive: archivePath == nil)
        // The paper profile fills in the paper's per-modality settings (resolutions included, so ingest
        // already works at them) where the manifest is silent; run.json keeps the manifest as dropped.
        let manifest = options.profile == .paper ? try PaperPreset.apply(to: dropped, file: manifestPath) : dropped
        let archive = archivePath ?? Manifest.archivePath(manifestPath: manifestPath, archive: manifest.archive)
        var config = ChainConfig.resolve(manifest: manifest, profile: options.profile, threads: options.threads)
        if let level { config = level.apply(to: config) }
        let levelJSON = try level.map { try JSONValue.from($0) }
        let ingest = try IngestStage.stage(manifestPath: manifestPath, manifest: manifest, archivePath: archive)

        let datasetLock: StoreLock
        do {
            datasetLock = try store.lockDataset(manifest.name, wait: 0)
        } catch let error as StoreError where error.kind == .locked {
            // Only a held lock means another process; a read-only or full store says so itself.
            throw PipelineError("dataset \(manifest.name) is being processed by another fairgen process (\(error))")
        }
        defer { datasetLock.unlock() }
        // flock(2) above is not reliable on every shared file system; the lease lock is (docs/cluster.md),
        // so two processes on two nodes never run one dataset at once.
        let datasetLease: LeaseLock
        do {
            datasetLease = try store.leaseLock("dataset-\(manifest.name).lease", purpose: "dataset \(manifest.name)", wait: 0)
        } catch let error as StoreError where error.kind == .locked {
            throw PipelineError("dataset \(manifest.name) is being processed by another fairgen process (\(error))")
        }
        defer { datasetLease.release() }
        // Shared: runs of different datasets proceed together; gc (exclusive) waits for them.
        let storeLock = try store.lockStore(.shared, wait: nil)
        defer { storeLock.unlock() }

        // The request identifies "the same job": same drop bytes, same resolved configuration.
        let request = try ingest.key().hex + "/" + StageKey.compute(stage: "chain", codeVersion: codeVersion,
                                                                     config: JSONValue.from(config),
                                                                     inputs: try levelJSON.map { [try CanonicalJSON.encode($0)] } ?? []).hex
        let run = try openOrCreateRun(store: store, manifest: dropped, config: config, request: request,
                                      codeVersion: options.codeVersion, logger: options.logger, experiment: levelJSON)
        // Keep the drop itself (content-addressed, so stored once): a later reprocess re-reads it from here.
        try run.link(store.objects.put(contentsOf: URL(fileURLWithPath: archive)), as: "input/" + inputName(manifest.archive))
        var cached: [String] = [], ran: [String] = []
        let runner = StageRunner(store: store, run: run, logger: options.logger, progressInterval: options.progressInterval) { event in
            if case .stageFinished(let stage, let status, _) = event {
                if status == .cached { cached.append(stage) } else if status == .complete { ran.append(stage) }
            }
            options.onEvent(event)
        }
        runner.shouldStop = options.shouldStop
        // With an executor (Slurm), the stage jobs record their own stages in run.json; the walk below
        // then only reads their outputs back, so run.json keeps `complete` for what the jobs ran.
        var recordedByJobs: [String: StageRecord]? = nil
        func step(_ stage: Stage) throws -> [String: ObjectID] {
            if options.shouldStop() {
                try? run.markInterrupted()
                throw StageInterrupted(stage: stage.name)
            }
            if let recorded = recordedByJobs {
                let key = try stage.key()
                guard let outputs = try store.lookup(stage: stage.name, key: key) else {
                    throw PipelineError("stage \(stage.name) (key \(key.hex.prefix(12))) is not in the run-cache after the "
                                        + "\(options.executor?.name ?? "executor") jobs ended")
                }
                if let record = recorded[stage.name], record.status == .complete, record.key == key.hex {
                    ran.append(stage.name)
                    return outputs
                }
            }
            return try runner.run(stage)
        }
        let plan = ChainPlan(config: config, ingest: ingest, subset: level?.subset, resolve: step)

        // Before the long stages start: how long they may take, so a mistaken setting is seen in seconds,
        // and whether fair sampling will have anything to do (it would fail only after the generator trained).
        // A failure here fails the run (run.json), like a stage failure.
        func preflight(_ dataset: ObjectID) throws {
            do {
                let table = try DatasetObject.decode(store.objects.read(dataset)).table
                let rows = table.rows
                let labeledTrain = rows.filter { $0.split == .train && $0.isLabeled }
                let trainRows = labeledTrain.count
                let attribute = config.sample.attribute.flatMap { table.attributes.firstIndex(of: $0) }
                let cells = Set(labeledTrain.map { row in "\(row.topClass ?? -1)/\(attribute.map { row.attributes[$0] } ?? -1)" }).count
                options.logger.notice("\(manifest.name): \(RunEstimate(config: config, trainRows: trainRows, rows: rows.count, cells: cells).summary)")
                if config.classify.oversampleBy == nil, config.classify.baselines.contains(where: { $0.hasSuffix("oversample") }) {
                    options.logger.notice("\(manifest.name): oversampling left out: no attribute or domain_column to resample over")
                }
                guard (Double(trainRows) * config.sample.perReal).rounded() >= 1 else {
                    throw PipelineError("pipeline.sample.per_real \(config.sample.perReal) × \(trainRows) labeled training rows "
                                        + "rounds to no synthetic image; raise per_real or add labeled train rows")
                }
            } catch {
                try? run.fail("\(error)")
                throw error
            }
        }

        if let executor = options.executor {
            // A stage job rebuilds the request from the manifest alone; an experiment level changes it.
            guard level == nil else {
                try? run.fail("experiments run with the local executor only")
                throw PipelineError("experiment levels run with the local executor only; drop `--executor \(executor.name)` "
                                    + "for an experiment (docs/experiments.md)")
            }
            run.sharedWriters = true
            let execution = ChainExecution(store: store, run: run, config: config, ingest: ingest, request: request,
                                           manifestPath: manifestPath, archivePath: archive, profile: options.profile,
                                           threads: options.threads, codeVersion: options.codeVersion, logger: options.logger,
                                           shouldStop: options.shouldStop) {
                try preflight(ChainPlan.cacheOnly(config: config, ingest: ingest, store: store).dataset())
            }
            do {
                try executor.execute(execution)
            } catch let interrupted as StageInterrupted {
                try? run.markInterrupted()
                throw interrupted
            } catch {
                try? run.fail("\(error)")
                throw error
            }
            recordedByJobs = try store.runRecord(dataset: run.dataset, version: run.version).stages
        } else {
            try preflight(plan.dataset())
        }
        for node in ChainPlan.nodes(config: config) { _ = try plan.outputs(node) }

        let dataset = try plan.dataset()
        let ddpm = try plan.outputs(.trainDDPM)["checkpoint"]!
        let upsampler = config.upsampler != nil ? try plan.outputs(.trainUpsampler)["checkpoint"]! : nil
        var classifiers: [(String, ObjectID)] = []
        for v in config.variants.indices {
            for seed in 0..<config.classify.seeds {
                classifiers.append(("checkpoints/classifier-\(config.variants[v].name)-seed\(seed).safetensors",
                                    try plan.outputs(.classify(variant: v, seed: seed))["checkpoint"]!))
            }
        }
        let sampled = try plan.outputs(.fairSample)
        let shards = try plan.shards()
        let evaluated = try plan.outputs(.evaluate)

        // File the version: metrics.json (with the version number), report, checkpoints, shards, grids.
        let metricsBytes = try withVersion(store.objects.read(evaluated["metrics"]!), version: run.version)
        let summary = try MetricsSummary(json: metricsBytes)
        try run.put(metricsBytes, as: "metrics.json")
        var grids: [SampleGrid] = []
        let table = try DatasetObject.decode(store.objects.read(dataset)).table
        let rowValues = config.sample.attribute.flatMap { a in table.attributes.firstIndex(of: a).map { table.attributeValues[$0] } }
        for name in sampled.keys.filter({ $0.hasPrefix("grid-") }).sorted() {
            // The file is named by class index; the report shows the class's real name.
            guard let index = GridCollector.classIndex(ofGrid: name.dropFirst(5)), table.classes.indices.contains(index) else {
                throw PipelineError("fair-sample: output \(name) does not name a class index (expected grid-III-<class>)")
            }
            let cls = table.classes[index]
            grids.append(SampleGrid(className: cls, attribute: config.sample.attribute ?? "samples",
                                    value: rowValues.map { $0.joined(separator: ", ") + " (rows, top to bottom)" } ?? "all",
                                    png: try store.objects.read(sampled[name]!)))
            try run.link(sampled[name]!, as: "samples/\(name).png")
        }
        try run.put(Array(ReportBuilder.html(metrics: summary, grids: grids).utf8), as: "report.html")
        try run.link(ddpm, as: "checkpoints/ddpm.safetensors")
        if let upsampler { try run.link(upsampler, as: "checkpoints/upsampler.safetensors") }
        for (path, id) in classifiers { try run.link(id, as: path) }
        for (i, shard) in shards.enumerated() { try run.link(shard, as: String(format: "synthetic/shard-%05d.tar", i)) }
        try run.complete()
        return Result(dataset: manifest.name, version: run.version, runDirectory: run.directory, metrics: summary,
                      cachedStages: cached, ranStages: ran)
    }

    /// Reopens the newest version when it is an unfinished run of the same request (interrupted, or
    /// `running` although we hold the dataset lock, i.e. its process died); otherwise starts a new version.
    static func openOrCreateRun(store: Store, manifest: Manifest, config: ChainConfig, request: String,
                                codeVersion: String, logger: Logger, experiment: JSONValue? = nil) throws -> RunHandle {
        if let latest = try store.latestVersion(of: manifest.name),
           let record = try? store.runRecord(dataset: manifest.name, version: latest),
           record.status == .running || record.status == .interrupted,
           case .object(let c) = record.config, c["request"] == .string(request) {
            let run = try store.openRun(dataset: manifest.name, version: latest)
            try run.update { $0.status = .running; $0.finished = nil; $0.error = nil; $0.blas = BLASInfo.current() }
            logger.info("\(manifest.name): resuming \(Store.versionName(latest)) (was \(record.status.rawValue))")
            return run
        }
        // A newer request supersedes a dead run of an older one: say so in its run.json (we hold the
        // dataset lock, so a `running` version here has no live writer).
        if let latest = try store.latestVersion(of: manifest.name),
           let record = try? store.runRecord(dataset: manifest.name, version: latest), record.status == .running {
            try? store.openRun(dataset: manifest.name, version: latest).markInterrupted()
        }
        var configJSON = try JSONValue.from(config)
        if case .object(var c) = configJSON {
            c["request"] = .string(request)
            if let experiment { c["experiment"] = experiment }
            configJSON = .object(c)
        }
        let run = try store.createRun(dataset: manifest.name, codeVersion: codeVersion,
                                      manifest: try JSONValue.from(manifest), config: configJSON, blas: BLASInfo.current())
        logger.info("\(manifest.name): new version \(Store.versionName(run.version))")
        return run
    }

    /// The archive's file name as kept under `input/` (a name with path characters is reduced to its last part).
    public static func inputName(_ archive: String) -> String {
        let last = archive.split(separator: "/").last.map(String.init) ?? "archive"
        return last.isEmpty || last.hasPrefix(".") ? "archive" + last : last
    }

    /// The archive kept by the newest version of `dataset` that has one (for reprocessing), if any.
    public static func keptArchive(store: Store, dataset: String) throws -> URL? {
        for version in try store.versions(of: dataset).reversed() {
            guard let record = try? store.runRecord(dataset: dataset, version: version) else { continue }
            if let (path, _) = record.files.first(where: { $0.key.hasPrefix("input/") }) {
                return store.runDirectory(dataset: dataset, version: version).appendingPathComponent(path)
            }
        }
        return nil
    }

    /// metrics.json bytes with `"version": N` inserted after `"dataset"`.
    static func withVersion(_ bytes: [UInt8], version: Int) throws -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let range = text.range(of: "\n  \"variants\"") else {
            throw PipelineError("evaluate output: unexpected metrics layout (no top-level \"variants\")")
        }
        return Array((text[..<range.lowerBound] + "\n  \"version\": \(version)," + text[range.lowerBound...]).utf8)
    }
}
