import Classifier
import Datasets
import Fairness
import Foundation
import Models
import NN
import Tensors

import struct Store.ObjectID

/// The `evaluate` stage: the metric suite (Fairness module) for every variant × seed on every test
/// split, aggregated over seeds, the α chosen on `val`, MMD between every pair of domains and the PCA
/// component count in the classifiers' feature space, and the samples every seed misclassifies.
/// Output `metrics`: metrics.json (schema 1) without the run version, which the chain adds when it
/// files the run (so that a cached evaluation is reused by a later version).
public enum EvaluateStage {
    public static let codeVersion = "evaluate-3"
    /// Input name of the auditor checkpoint (the baseline's seed-0 classifier).
    static let auditorInput = "auditor"
    /// Input name of fair-sample's lever record (metrics.json `levers`).
    static let leversInput = "levers"

    struct Slice: Encodable {
        var variants: [String]
        var seeds: Int
        var evaluate: ChainConfig.Evaluate
        var attribute: String?
    }

    /// `predictions` maps "<variant>/seed<k>" to that classifier's predictions object. With an `auditor`
    /// (the baseline's seed-0 checkpoint) and the synthetic `shards`, metrics.json gets the `generator`
    /// diagnostics (`GeneratorAudit`).
    public static func stage(config: ChainConfig, dataset: ObjectID, predictions: [String: ObjectID],
                             auditor: ObjectID? = nil, shards: [ObjectID] = [], levers: ObjectID? = nil) throws -> Stage {
        var inputs = predictions
        inputs["dataset"] = dataset
        if let levers { inputs[leversInput] = levers }
        if let auditor, !shards.isEmpty {
            inputs[auditorInput] = auditor
            for (i, s) in shards.enumerated() { inputs[String(format: "shard-%05d", i)] = s }
        }
        let slice = Slice(variants: config.variants.map(\.name), seeds: config.classify.seeds, evaluate: config.evaluate,
                          attribute: config.sample.attribute)
        return try Stage(name: "evaluate", codeVersion: codeVersion, config: slice, inputs: inputs) { ctx in
            let d = try DatasetObject.decode(ctx.readInput("dataset"))
            var loaded: [String: SafeTensorsFile] = [:]
            for key in ctx.inputs.keys where key.contains("/seed") {
                loaded[key] = try SafeTensors.decode(ctx.store.objects.read(ctx.inputs[key]!), source: "predictions \(key)")
            }
            var metrics = try evaluate(d, config: config, predictions: loaded)
            if ctx.inputs[auditorInput] != nil, d.table.labelKind != .multi, case .object(var members) = metrics {
                let shardIDs = ctx.inputs.keys.filter { $0.hasPrefix("shard-") }.sorted().map { ctx.inputs[$0]! }
                let samples = try shardIDs.flatMap { try ShardReader.read($0, store: ctx.store) }
                let checkpoint = try SafeTensors.decode(ctx.readInput(auditorInput), source: "auditor checkpoint")
                members.append(JSONMember("generator", try generatorDiagnostics(d, config: config, auditor: checkpoint.tensors,
                                                                               samples: samples)))
                metrics = .object(members)
            }
            if ctx.inputs[leversInput] != nil, case .object(var members) = metrics {
                members.append(JSONMember("levers", try LeverPilot.Record.decode(ctx.readInput(leversInput)).json))
                metrics = .object(members)
            }
            return ["metrics": .bytes(Array(metrics.serialized(indent: 2).utf8))]
        }
    }

    /// Builds the metrics.json tree (without `version`).
    static func evaluate(_ d: IngestedDataset, config: ChainConfig, predictions: [String: SafeTensorsFile]) throws -> JSONValue {
        let table = d.table
        let highRisk = Set(d.manifest.highRisk.compactMap { table.classes.firstIndex(of: $0) })
        let splits: [Split] = [.val, .testID, .testOOD].filter { s in table.rows.contains { $0.split == s && $0.isLabeled } }
        var variantMembers: [JSONMember] = []
        var valMacroAUC: [(name: String, alpha: Double, score: Double)] = []
        var allScores: [String: [Split: [Tensor]]] = [:]
        for variant in config.variants {
            var perSplit: [JSONMember] = []
            for split in splits {
                var seeds: [JSONValue] = []
                for seed in 0..<config.classify.seeds {
                    let key = "\(variant.name)/seed\(seed)"
                    guard let file = predictions[key] else { throw PipelineError("evaluate: missing predictions \(key)") }
                    let scores = try file.tensor("scores." + split.rawValue, source: "predictions \(key)")
                    allScores[variant.name, default: [:]][split, default: []].append(scores)
                    seeds.append(splitMetrics(table, split: split, scores: scores, highRisk: highRisk,
                                              posteriorSeed: split == .val ? nil : posteriorSeed(classifierSeed: seed)))
                }
                let aggregated = aggregateSeeds(seeds)
                perSplit.append(JSONMember(split.rawValue, aggregated))
                if split == .val, let a = variant.syntheticAlpha,
                   let mean = aggregated["auc"]?["macro"]?["mean"]?.doubleValue {
                    valMacroAUC.append((variant.name, a, mean))
                }
            }
            variantMembers.append(JSONMember(variant.name, .object([
                JSONMember("seeds", .int(config.classify.seeds)),
                JSONMember("splits", .object(perSplit)),
            ])))
        }
        var members: [JSONMember] = [
            JSONMember("schema", .int(1)),
            JSONMember("dataset", .string(d.manifest.name)),
            JSONMember("variants", .object(variantMembers)),
        ]
        // α is chosen on val, never on a test split.
        let summary = try MetricsSummary(fairness: .object(members))
        let choice: Selection
        if table.labelKind == .multi {
            // Ties go to the larger α (more real data), then to the plain mix (fewer moving parts).
            let best = valMacroAUC.max { ($0.score, $0.alpha, ($0.name.contains("+") ? 0 : 1), $1.name) < ($1.score, $1.alpha, ($1.name.contains("+") ? 0 : 1), $0.name) }
            choice = Selection(alpha: best?.alpha, description: "val macro AUC", variant: best?.name)
        } else {
            choice = select(summary, rule: config.evaluate.selection)
        }
        members.append(JSONMember("selected_alpha", choice.alpha.map { .number($0) } ?? .null))
        members.append(JSONMember("selected_variant", choice.variant.map { .string($0) } ?? .null))
        members.append(JSONMember("selection", .string(choice.description)))
        members.append(JSONMember("comparisons", comparisons(summary, selected: choice.variant, splits: splits)))
        let selected = choice.variant
        if config.evaluate.mmd {
            members.append(JSONMember("mmd", mmd(table, config: config, selected: selected, predictions: predictions)))
        }
        members.append(JSONMember("representations", representationPCA(config: config, predictions: predictions)))
        if table.labelKind != .multi {
            members.append(JSONMember("misclassified_by_every_seed",
                                      misclassifiedByEverySeed(table, config: config, splits: splits, scores: allScores)))
        }
        return .object(members)
    }

    /// The synthetic variant chosen on val (plain or stacked), its α, and the rule, as metrics.json's
    /// `selected_variant`, `selected_alpha` and `selection` state them.
    struct Selection: Equatable {
        var alpha: Double?
        var description: String
        var variant: String? = nil
    }

    /// Val accuracy a synthetic variant may lose against the baseline and still be chosen by `worst_group`.
    static let accuracyTolerance = 0.01

    /// Chooses the synthetic variant on `val` by `rule` (single-label and soft labels), among the plain
    /// `synthetic_a<α>` and the stacked `synthetic_a<α>+…` variants. Ties go to the larger α (more real
    /// data), then to the plain mix. `worst_group` falls back to balanced accuracy when no group table
    /// exists, and to the best val accuracy when no variant is within the tolerance; `selection` then says so.
    static func select(_ m: MetricsSummary, rule: SelectionRule) -> Selection {
        typealias Candidate = (name: String, alpha: Double, val: SplitSummary)
        let synthetic = m.variants.compactMap { v -> Candidate? in
            guard let a = v.syntheticAlpha, let s = v.splits["val"] else { return nil }
            return (v.name, a, s)
        }
        func best(_ score: (SplitSummary) -> Double?, among candidates: [Candidate]) -> (alpha: Double?, variant: String?) {
            let c = candidates.compactMap { c in score(c.val).map { (c, $0) } }
                .max { a, b in
                    (a.1, a.0.alpha, (a.0.name.contains("+") ? 0 : 1), b.0.name) < (b.1, b.0.alpha, (b.0.name.contains("+") ? 0 : 1), a.0.name)
                }?.0
            return (c?.alpha, c?.name)
        }
        func selection(_ pick: (alpha: Double?, variant: String?), _ description: String) -> Selection {
            Selection(alpha: pick.alpha, description: description, variant: pick.variant)
        }
        let balanced = "val balanced accuracy"
        switch rule {
        case .balancedAccuracy:
            return selection(best({ $0.balancedAccuracy?.mean }, among: synthetic), balanced)
        case .worstGroup:
            guard synthetic.contains(where: { $0.val.worstGroupAccuracy?.mean != nil }) else {
                return selection(best({ $0.balancedAccuracy?.mean }, among: synthetic),
                                 balanced + " (no attribute groups on val for worst_group)")
            }
            let tolerance = String(format: "%.2f", accuracyTolerance)
            let rule = "val worst-group accuracy among synthetic variants within \(tolerance) of the baseline's val accuracy"
            guard let base = m.variant("baseline")?.splits["val"]?.accuracy?.mean else {
                return selection(best({ $0.worstGroupAccuracy?.mean }, among: synthetic),
                                 "val worst-group accuracy (no baseline val accuracy)")
            }
            let eligible = synthetic.filter { ($0.val.accuracy?.mean ?? -.infinity) >= base - accuracyTolerance }
            if eligible.isEmpty {
                return selection(best({ $0.accuracy?.mean }, among: synthetic), rule + " (none qualified: best val accuracy)")
            }
            return selection(best({ $0.worstGroupAccuracy?.mean }, among: eligible), rule)
        }
    }

    /// metrics.json `comparisons`: per test split, the selected synthetic variant against the baseline and
    /// against oversampling, as paired per-seed differences with 95 % intervals (docs/metrics.md).
    static func comparisons(_ m: MetricsSummary, selected: String?, splits: [Split]) -> JSONValue {
        guard let selected, let synthetic = m.variant(selected) else { return .object([]) }
        var perSplit: [JSONMember] = []
        for split in splits where split != .val {
            var pairs: [JSONMember] = []
            for other in ["baseline", "oversample"] {
                guard let s = synthetic.splits[split.rawValue], let o = m.variant(other)?.splits[split.rawValue] else { continue }
                pairs.append(JSONMember("\(synthetic.name)-\(other)", SplitComparison(s, o).json))
            }
            perSplit.append(JSONMember(split.rawValue, .object(pairs)))
        }
        return .object(perSplit)
    }

    /// The auditor (`GeneratorAudit`): the baseline's seed-0 ResNet from its checkpoint, as a function from
    /// images to class probabilities and penultimate features.
    static func auditor(weights: [String: Tensor], channels: Int, classes: Int, resolution: Int,
                        widths: [Int], arch: String) throws -> GeneratorAudit.Auditor {
        guard let layout = ChainConfig.resnetLayout(arch: arch) else {
            throw PipelineError("auditor: classifier arch '\(arch)' is unknown")
        }
        var rng = RNG(seed: 0)   // every weight is overwritten by the checkpoint
        let network = ResNet(ResNetConfig(inChannels: channels, numOutputs: classes, resolution: resolution, widths: widths,
                                          blocks: layout.blocks, bottleneck: layout.bottleneck),
                             rng: &rng)
        try network.loadStateDict(weights, source: "auditor checkpoint")
        return { ClassifierTrainer.predict(network, images: $0, multiLabel: false, withFeatures: true) }
    }

    /// metrics.json `generator`: the auditor (the baseline classifier, real data only) on the synthetic
    /// images, per (class, fairness-attribute value) cell (`GeneratorAudit`).
    static func generatorDiagnostics(_ d: IngestedDataset, config: ChainConfig, auditor weights: [String: Tensor],
                                     samples: [SyntheticSample]) throws -> JSONValue {
        let table = d.table
        let resolution = config.upsampler?.to ?? config.ddpm.resolution
        guard let images = d.images(at: resolution) else {
            throw PipelineError("evaluate: dataset object has no images at \(resolution) px")
        }
        let auditor = try auditor(weights: weights, channels: images.channels, classes: table.classes.count,
                                  resolution: resolution, widths: config.classify.widths, arch: config.classify.arch)
        let attributeIndex = config.sample.attribute.flatMap { table.attributes.firstIndex(of: $0) }
        let valueNames = attributeIndex.map { table.attributeValues[$0] } ?? []
        func real(_ split: Split) -> GeneratorAudit.LabeledSet {
            let rows = table.rows.indices.filter { table.rows[$0].split == split && table.rows[$0].topClass != nil }
            return GeneratorAudit.LabeledSet(images: ClassifyStage.bank(images, rows: rows),
                                             classes: rows.map { table.rows[$0].topClass! },
                                             values: rows.map { r in attributeIndex.map { table.rows[r].attributes[$0] } ?? -1 })
        }
        var bank = ImageBank(channels: images.channels, height: resolution, width: resolution)
        var classes: [Int] = [], values: [Int] = []
        for s in samples {
            guard let c = table.classes.firstIndex(of: s.label) else {
                throw PipelineError("synthetic sample \(s.stem): its label is not a class of the dataset")
            }
            let img = try PNGCodec.decode(s.png, file: "synthetic shard", entry: s.stem + ".png")
            guard img.shape == [images.channels, resolution, resolution] else {
                throw PipelineError("synthetic sample \(s.stem): shape \(img.shape), expected \([images.channels, resolution, resolution])")
            }
            bank.append(img)
            classes.append(c)
            values.append(config.sample.attribute.flatMap { s.attributes[$0] }.flatMap { valueNames.firstIndex(of: $0) } ?? -1)
        }
        return GeneratorAudit.run(
            auditor: auditor,
            classNames: table.classes, attribute: attributeIndex == nil ? nil : config.sample.attribute,
            valueNames: valueNames, train: real(.train), validation: real(.val),
            synthetic: GeneratorAudit.LabeledSet(images: bank, classes: classes, values: values),
            mmdSampleSize: config.evaluate.mmdSampleSize, mmdRepeats: config.evaluate.mmdRepeats)
    }

    /// One split of one classifier: DESIGN §6's one-evaluation object. Blank attribute (or domain) cells
    /// are missing values: reported apart, in no group. With `posteriorSeed` and more than 3 classes
    /// (with ≤ 3 every row is a top-3 hit), each single-label group gets the top-3 posterior.
    static func splitMetrics(_ table: DatasetTable, split: Split, scores: Tensor, highRisk: Set<Int>,
                             posteriorSeed: UInt64? = nil) -> JSONValue {
        let rows = table.rows.indices.filter { table.rows[$0].split == split }
        let k = table.classes.count
        var columns: [AttributeColumn] = []
        for (i, name) in table.attributes.enumerated() {
            columns.append(AttributeColumn(name: name, values: rows.map { r in
                let v = table.rows[r].attributes[i]
                return v >= 0 ? table.attributeValues[i][v] : nil
            }, expectedValues: table.attributeValues[i]))
        }
        if !table.domainValues.isEmpty {
            columns.append(AttributeColumn(name: "domain", values: rows.map { r in
                table.rows[r].domain >= 0 ? table.domainValues[table.rows[r].domain] : nil
            }, expectedValues: table.domainValues))
        }
        if table.labelKind == .multi {
            var targets: [Int] = [], mask: [Bool] = []
            for r in rows {
                for j in 0..<k {
                    targets.append(table.rows[r].label[j] > 0.5 ? 1 : 0)
                    mask.append(table.rows[r].labelMask[j] == 1)
                }
            }
            let m = evaluateMultiLabel(targets: targets, mask: mask, scores: ScoreMatrix(rows: rows.count, columns: k, floats: scores.data),
                                       conditions: table.classes, attributes: columns)
            return m.json
        }
        // Single and soft labels: the hard label is the arg-max (ties → the class listed first); unlabeled
        // rows are not scored.
        let labeled = rows.indices.filter { table.rows[rows[$0]].isLabeled }
        let labels = labeled.map { i -> Int in
            let l = table.rows[rows[i]].label
            var best = 0
            for j in 1..<l.count where l[j] > l[best] { best = j }
            return best
        }
        let matrix = ScoreMatrix(rows: rows.count, columns: k, floats: scores.data).selecting(rows: labeled)
        let cols = columns.map { c in AttributeColumn(name: c.name, values: labeled.map { c.values[$0] }, expectedValues: c.expectedValues) }
        return Fairness.evaluateSplit(labels: labels, scores: matrix, classes: table.classes, highRisk: highRisk, attributes: cols,
                                      posteriorSeed: k > 3 ? posteriorSeed : nil).json
    }
}
