import Datasets
import Foundation
import Store

/// One level of an experiment: what it changes in a chain run (docs/experiments.md). Levels that change the
/// training rows carry a `TrainingSubset` (its stage's output becomes every later stage's `dataset` input);
/// levels that change sampling carry the new `per_real` or strategy (the fair-sample slice changes). Whatever
/// a level leaves alone keeps its stage key and is reused from the run-cache.
public struct ExperimentLevel: Codable, Sendable, Equatable {
    /// The experiment's id (its folder under `datasets/NAME/experiments/`).
    public var experiment: String
    public var kind: ExperimentSpec.Kind
    /// The swept value: skew — fraction of the minority removed; label efficiency — fraction labeled;
    /// ratio — synthetic images per real one; translation — fraction of the minority's rows kept.
    public var value: Double
    /// How the level is shown: `0.50`, or the translation scenario's name.
    public var label: String
    public var subset: TrainingSubset?
    /// `sample.per_real` of this level (ratio).
    public var perReal: Double?
    /// `sample.strategy` of this level (translation: `translate`).
    public var strategy: String?
    /// Adds the synthetic-only variant (α = 0, "without real data") beside the profile's α (ratio).
    public var syntheticOnly: Bool

    /// The chain configuration of this level.
    public func apply(to config: ChainConfig) -> ChainConfig {
        var c = config
        if let perReal { c.sample.perReal = perReal }
        if let strategy { c.sample.strategy = strategy }
        if syntheticOnly && !c.classify.alphas.contains(0) { c.classify.alphas.append(0) }
        return c
    }
}

/// Fans a manifest's `experiment:` block out into levels and runs them through the chain, one version per
/// level, then files `sweep.json` and `sweep.html` under `store/datasets/NAME/experiments/<id>/`.
/// An interrupted sweep resumes: rerun it, and the finished levels' stages come back `cached`.
public enum Experiment {
    /// The levels of `spec` for `manifest`, in the order given.
    public static func levels(_ spec: ExperimentSpec, manifest: Manifest) -> [ExperimentLevel] {
        let attribute = manifest.experimentAttribute
        func level(_ value: Double, label: String) -> ExperimentLevel {
            ExperimentLevel(experiment: spec.id, kind: spec.kind, value: value, label: label, subset: nil, perReal: nil,
                            strategy: nil, syntheticOnly: false)
        }
        switch spec.kind {
        case .skew:
            return spec.levels.map { v in
                var l = level(v, label: String(format: "%.2f", v))
                l.subset = TrainingSubset(kind: .skew, keep: 1 - v, attribute: attribute, seed: spec.seed)
                return l
            }
        case .labelEfficiency:
            return spec.levels.map { v in
                var l = level(v, label: String(format: "%.2f", v))
                l.subset = TrainingSubset(kind: .labelEfficiency, keep: v, attribute: attribute, seed: spec.seed)
                return l
            }
        case .ratio:
            return spec.levels.map { v in
                var l = level(v, label: String(format: "%g:1", v))
                l.perReal = v
                l.syntheticOnly = true
                return l
            }
        case .translation:
            return spec.scenarios.map { s in
                var l = level(s.keep, label: s.rawValue)
                l.subset = TrainingSubset(kind: .skew, keep: s.keep, attribute: attribute, includeUnlabeled: true, seed: spec.seed)
                l.strategy = SampleStrategy.translate.rawValue
                return l
            }
        }
    }

    /// What a finished sweep reports.
    public struct Result: Sendable {
        public var experiment: String
        public var directory: URL
        public var levels: [(level: ExperimentLevel, chain: Chain.Result)]
        public var report: SweepReport
    }

    /// The projected time of a sweep: each level's `RunEstimate`, with the generator and sampling stages
    /// counted once per distinct input (a ratio sweep trains one generator; a skew sweep one per level).
    public struct Projection: Sendable {
        /// Per level: seconds this level adds (its stages not shared with an earlier level).
        public var perLevel: [Double]
        public var totalSeconds: Double { perLevel.reduce(0, +) }

        public var summary: String {
            "projected sweep time (estimate, if nothing is cached): ~\(RunEstimate.format(totalSeconds)) over \(perLevel.count) levels ("
                + perLevel.map { RunEstimate.format($0) }.joined(separator: " + ") + ")"
        }
    }

    /// Projects the sweep on the ingested dataset and refuses a level that would leave the generator without
    /// any row of the minority value it is asked to draw (skew removing every one, or too few rows for `few`).
    public static func project(_ levels: [ExperimentLevel], base: ChainConfig, dataset d: IngestedDataset) throws -> Projection {
        var seen = Set<String>()
        var perLevel: [Double] = []
        for level in levels {
            var data = d
            if let subset = level.subset, let derived = try subset.apply(to: d) { data = derived }
            try checkMinority(level, original: d, derived: data)
            let config = level.apply(to: base)
            let rows = data.table.rows
            let labeledTrain = rows.filter { $0.split == .train && $0.isLabeled }
            let attribute = config.sample.attribute.flatMap { data.table.attributes.firstIndex(of: $0) }
            let cells = Set(labeledTrain.map { row -> String in
                let value = attribute.map { row.attributes[$0] } ?? -1
                return "\(row.topClass ?? -1)/\(value)"
            }).count
            let estimate = RunEstimate(config: config, trainRows: labeledTrain.count, rows: rows.count, cells: cells)
            let generatorKey = (try? String(decoding: JSONEncoder().encode(level.subset), as: UTF8.self)) ?? ""
            let sampleKey = generatorKey + "/\(config.sample.perReal)/\(config.sample.strategy)"
            var seconds = 0.0
            for stage in estimate.stages {
                let key: String?
                switch stage.name {
                case "train-ddpm", "train-upsampler": key = stage.name + generatorKey
                case "fair-sample": key = stage.name + sampleKey
                default: key = nil
                }
                if let key, !seen.insert(key).inserted { continue }
                var s = stage.seconds
                // The baseline's classifiers see only the real rows: shared when the rows are.
                if stage.name == "classify", estimate.classifiers > 0,
                   !seen.insert("baseline" + generatorKey).inserted {
                    let shared = Double(config.classify.seeds) / Double(estimate.classifiers)
                    s *= 1 - shared
                }
                seconds += s
            }
            perLevel.append(seconds)
        }
        return Projection(perLevel: perLevel)
    }

    /// A level that removes minority rows must leave the generator some of them (train or unlabeled):
    /// otherwise the minority's conditioning is never trained and its synthetic images would be meaningless.
    static func checkMinority(_ level: ExperimentLevel, original: IngestedDataset, derived: IngestedDataset) throws {
        guard let subset = level.subset, subset.kind == .skew, let name = subset.attribute,
              let a = original.table.attributes.firstIndex(of: name) else { return }
        let trainValues = original.table.rows.filter { $0.split == .train }.map { $0.attributes[a] }
        guard let minority = Sampling.minorityValue(trainValues) else { return }
        let left = DiffusionStages.generativeRows(derived.table).filter { derived.table.rows[$0].attributes[a] == minority }.count
        guard left == 0 else { return }
        let value = original.table.attributeValues[a][minority]
        throw PipelineError("experiment \(level.experiment), level \(level.label): no train or unlabeled row with \(name) = \(value) "
                            + "is left, so the generator would never see that value's conditioning and its synthetic images "
                            + "would be meaningless; use a smaller level (or, for translation, scenario some)")
    }

    /// Runs the experiment of the manifest at `manifestPath` (it must have an `experiment:` block).
    /// `onProgress` receives one line at the start, at every level's start and end, and after every stage.
    public static func run(manifestPath: String, archivePath: String? = nil, store: Store, options: Chain.Options,
                           onProgress: @escaping (String) -> Void = { _ in }) throws -> Result {
        let dropped = try Manifest.load(path: manifestPath, requireArchive: archivePath == nil)
        guard let spec = dropped.experiment else {
            throw PipelineError("\(manifestPath): no experiment: block (fairgen experiment needs one; docs/experiments.md)")
        }
        let manifest = options.profile == .paper ? try PaperPreset.apply(to: dropped, file: manifestPath) : dropped
        let archive = archivePath ?? Manifest.archivePath(manifestPath: manifestPath, archive: manifest.archive)
        let levels = Self.levels(spec, manifest: manifest)
        let base = ChainConfig.resolve(manifest: manifest, profile: options.profile, threads: options.threads)

        // Ingest once up front (the chain then finds it cached) to project the sweep and check every level.
        let projection: Projection
        do {
            let lock = try store.lockStore(.shared, wait: nil)
            defer { lock.unlock() }
            let ingest = try IngestStage.stage(manifestPath: manifestPath, manifest: manifest, archivePath: archive)
            let runner = StageRunner(store: store, run: nil, logger: options.logger)
            let id = try runner.run(ingest)[Store.singleOutputName]!
            projection = try project(levels, base: base, dataset: DatasetObject.decode(store.objects.read(id)))
        }
        onProgress("experiment \(spec.id) (\(spec.kind.rawValue), \(levels.count) levels: \(levels.map(\.label).joined(separator: ", "))): "
                   + projection.summary)

        let start = Date()
        var done: [(level: ExperimentLevel, chain: Chain.Result)] = []
        for (i, level) in levels.enumerated() {
            let projectedLeft = projection.perLevel[i...].reduce(0, +)
            onProgress("experiment \(spec.id): level \(i + 1)/\(levels.count) (\(level.label)) — elapsed "
                       + StageRunner.formatDuration(Date().timeIntervalSince(start)) + ", ETA " + eta(projection, from: i, start: start)
                       + " (projected left \(RunEstimate.format(projectedLeft)))")
            var levelOptions = options
            let outer = options.onEvent
            let levelStart = Date()
            let levelsLeft = eta(projection, from: i, start: start, seconds: true)
            levelOptions.onEvent = { event in
                outer(event)
                if case .stageFinished(let stage, let status, _) = event {
                    let left = max(0, levelsLeft - Date().timeIntervalSince(levelStart))
                    onProgress("experiment \(spec.id): level \(i + 1)/\(levels.count) \(stage) \(status.rawValue); sweep elapsed "
                               + StageRunner.formatDuration(Date().timeIntervalSince(start)) + ", ETA " + StageRunner.formatDuration(left))
                }
            }
            let result = try Chain.run(manifestPath: manifestPath, archivePath: archive, store: store, options: levelOptions, level: level)
            done.append((level, result))
            onProgress("experiment \(spec.id): level \(i + 1)/\(levels.count) (\(level.label)) done as \(Store.versionName(result.version)) — "
                       + "\(result.ranStages.count) stages ran, \(result.cachedStages.count) cached")
        }

        var inputs: [SweepReport.LevelInput] = []
        for (level, chain) in done {
            let bytes = try Array(Data(contentsOf: chain.runDirectory.appendingPathComponent("metrics.json")))
            inputs.append(SweepReport.LevelInput(level: level, version: chain.version, metricsJSON: bytes))
        }
        let report = try SweepReport(dataset: manifest.name, spec: spec, attribute: manifest.experimentAttribute,
                                     profile: options.profile, levels: inputs)
        let lock = try store.lockStore(.shared, wait: nil)
        defer { lock.unlock() }
        try store.writeExperimentFile(dataset: manifest.name, experiment: spec.id, name: "sweep.json", bytes: Array(report.json.utf8))
        let directory = try store.writeExperimentFile(dataset: manifest.name, experiment: spec.id, name: "sweep.html",
                                                      bytes: Array(report.html.utf8))
        return Result(experiment: spec.id, directory: directory, levels: done, report: report)
    }

    /// Time left: the projection of the levels not yet run, scaled by how the finished levels compared with
    /// their projection (the estimate is an order of magnitude; the finished levels calibrate it).
    static func eta(_ p: Projection, from level: Int, start: Date) -> String {
        StageRunner.formatDuration(eta(p, from: level, start: start, seconds: true))
    }

    /// `eta` in seconds.
    static func eta(_ p: Projection, from level: Int, start: Date, seconds: Bool) -> Double {
        let left = p.perLevel[level...].reduce(0, +)
        let projectedDone = p.perLevel[..<level].reduce(0, +)
        let elapsed = Date().timeIntervalSince(start)
        let scale = projectedDone > 0 && elapsed > 0 ? elapsed / projectedDone : 1
        return left * scale
    }
}

/// Store's JSON tree under a name that files importing Fairness (which has its own `JSONValue`) can use.
typealias StoreJSON = JSONValue

/// Parses JSON bytes into Store's tree.
func parseStoreJSON(_ bytes: [UInt8]) throws -> StoreJSON { try JSONValue.parse(bytes) }
