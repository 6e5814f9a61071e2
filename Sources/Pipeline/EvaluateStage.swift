import Datasets
import Fairness
import Foundation
import NN
import Tensors

import struct Store.ObjectID

/// The `evaluate` stage: the metric suite (Fairness module) for every variant × seed on every test
/// split, aggregated over seeds, the α chosen on `val`, and MMD between domains in the classifiers'
/// feature space. Output `metrics`: metrics.json (schema 1) without the run version, which the chain
/// adds when it files the run (so that a cached evaluation is reused by a later version).
public enum EvaluateStage {
    public static let codeVersion = "evaluate-1"

    struct Slice: Encodable {
        var variants: [String]
        var seeds: Int
        var evaluate: ChainConfig.Evaluate
        var attribute: String?
    }

    /// `predictions` maps "<variant>/seed<k>" to that classifier's predictions object.
    public static func stage(config: ChainConfig, dataset: ObjectID, predictions: [String: ObjectID]) throws -> Stage {
        var inputs = predictions
        inputs["dataset"] = dataset
        let slice = Slice(variants: config.variants.map(\.name), seeds: config.classify.seeds, evaluate: config.evaluate,
                          attribute: config.sample.attribute)
        return try Stage(name: "evaluate", codeVersion: codeVersion, config: slice, inputs: inputs) { ctx in
            let d = try DatasetObject.decode(ctx.readInput("dataset"))
            var loaded: [String: SafeTensorsFile] = [:]
            for key in ctx.inputs.keys where key != "dataset" {
                loaded[key] = try SafeTensors.decode(ctx.store.objects.read(ctx.inputs[key]!), source: "predictions \(key)")
            }
            let metrics = try evaluate(d, config: config, predictions: loaded)
            return ["metrics": .bytes(Array(metrics.serialized(indent: 2).utf8))]
        }
    }

    /// Builds the metrics.json tree (without `version`).
    static func evaluate(_ d: IngestedDataset, config: ChainConfig, predictions: [String: SafeTensorsFile]) throws -> JSONValue {
        let table = d.table
        let highRisk = Set(d.manifest.highRisk.compactMap { table.classes.firstIndex(of: $0) })
        let splits: [Split] = [.val, .testID, .testOOD].filter { s in table.rows.contains { $0.split == s && $0.isLabeled } }
        var variantMembers: [JSONMember] = []
        var valScores: [(alpha: Double, score: Double)] = []
        for variant in config.variants {
            var perSplit: [JSONMember] = []
            for split in splits {
                var seeds: [JSONValue] = []
                for seed in 0..<config.classify.seeds {
                    let key = "\(variant.name)/seed\(seed)"
                    guard let file = predictions[key] else { throw PipelineError("evaluate: missing predictions \(key)") }
                    let scores = try file.tensor("scores." + split.rawValue, source: "predictions \(key)")
                    seeds.append(splitMetrics(table, split: split, scores: scores, highRisk: highRisk))
                }
                let aggregated = aggregateSeeds(seeds)
                perSplit.append(JSONMember(split.rawValue, aggregated))
                if split == .val, case .synthetic(let a) = variant {
                    let key = table.labelKind == .multi ? ["auc", "macro"] : ["balanced_accuracy"]
                    var node: JSONValue? = aggregated
                    for k in key { node = node?[k] }
                    if let mean = node?["mean"]?.doubleValue { valScores.append((a, mean)) }
                }
            }
            variantMembers.append(JSONMember(variant.name, .object([
                JSONMember("seeds", .int(config.classify.seeds)),
                JSONMember("splits", .object(perSplit)),
            ])))
        }
        // α is chosen on val, never on a test split; ties go to the larger α (more real data).
        let selected = valScores.max { ($0.score, $0.alpha) < ($1.score, $1.alpha) }?.alpha
        var members: [JSONMember] = [
            JSONMember("schema", .int(1)),
            JSONMember("dataset", .string(d.manifest.name)),
            JSONMember("variants", .object(variantMembers)),
            JSONMember("selected_alpha", selected.map { .number($0) } ?? .null),
            JSONMember("selection", .string(table.labelKind == .multi ? "val macro AUC" : "val balanced accuracy")),
        ]
        if config.evaluate.mmd {
            members.append(JSONMember("mmd", mmd(table, config: config, selected: selected, predictions: predictions)))
        }
        return .object(members)
    }

    /// One split of one classifier: DESIGN §6's one-evaluation object.
    static func splitMetrics(_ table: DatasetTable, split: Split, scores: Tensor, highRisk: Set<Int>) -> JSONValue {
        let rows = table.rows.indices.filter { table.rows[$0].split == split }
        let k = table.classes.count
        var columns: [AttributeColumn] = []
        for (i, name) in table.attributes.enumerated() {
            columns.append(AttributeColumn(name: name, values: rows.map { r in
                let v = table.rows[r].attributes[i]
                return v >= 0 ? table.attributeValues[i][v] : ""
            }, expectedValues: table.attributeValues[i]))
        }
        if !table.domainValues.isEmpty {
            columns.append(AttributeColumn(name: "domain", values: rows.map { r in
                table.rows[r].domain >= 0 ? table.domainValues[table.rows[r].domain] : ""
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
            let parity = columns.first { $0.name.lowercased() == "sex" } ?? columns.first
            let m = evaluateMultiLabel(targets: targets, mask: mask, scores: ScoreMatrix(rows: rows.count, columns: k, floats: scores.data),
                                       conditions: table.classes, parityAttribute: parity)
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
        return Fairness.evaluateSplit(labels: labels, scores: matrix, classes: table.classes, highRisk: highRisk, attributes: cols).json
    }

    /// MMD² between the training split and each test split in the penultimate features of the baseline
    /// and of the selected synthetic variant (seed 0), with the Mann–Whitney U test between the two
    /// variants' estimate sets (the paper's Fig. 5 analysis).
    static func mmd(_ table: DatasetTable, config: ChainConfig, selected: Double?,
                    predictions: [String: SafeTensorsFile]) -> JSONValue {
        var variants = ["baseline"]
        if let a = selected { variants.append(Variant.synthetic(alpha: a).name) }
        var pairs: [JSONValue] = []
        var estimates: [String: [Double]] = [:]
        for other in [Split.testOOD, .testID] {
            for v in variants {
                guard let file = predictions["\(v)/seed0"],
                      let x = file.tensors["features.train"], let y = file.tensors["features." + other.rawValue],
                      x.shape[0] >= 2, y.shape[0] >= 2 else { continue }
                let e = mmdEstimates(FeatureSet(rows: x.shape[0], dimension: x.shape[1], values: x.data),
                                     FeatureSet(rows: y.shape[0], dimension: y.shape[1], values: y.data),
                                     sampleSize: config.evaluate.mmdSampleSize, repeats: config.evaluate.mmdRepeats, seed: 7)
                estimates["\(other.rawValue)/\(v)"] = e.estimates
                var m: [JSONMember] = [
                    JSONMember("a", .string("train")), JSONMember("b", .string(other.rawValue)),
                    JSONMember("variant", .string(v)), JSONMember("mean", .number(e.mean)), JSONMember("std", .number(e.std)),
                    JSONMember("n", .int(min(e.sampleSizeX, e.sampleSizeY))), JSONMember("S", .int(e.estimates.count)),
                ]
                if v != "baseline", let base = estimates["\(other.rawValue)/baseline"] {
                    m.append(JSONMember("mann_whitney_p_vs_baseline", .number(mannWhitneyU(e.estimates, base).p)))
                }
                pairs.append(.object(m))
            }
        }
        return .object([JSONMember("pairs", .array(pairs))])
    }
}
