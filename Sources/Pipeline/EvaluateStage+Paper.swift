import Datasets
import Fairness
import Models
import NN
import Tensors

// The evaluate stage's per-variant analyses from the paper beyond the per-split metrics: MMD between
// every pair of domains, the PCA component count of the representations, and the samples every seed
// misclassifies (docs/metrics.md).
extension EvaluateStage {
    /// Rows listed per variant and split in `misclassified_by_every_seed` (the total is always given).
    static let misclassifiedCap = 100
    /// Rows (sampled without replacement, seeded) per representation PCA; the full split when smaller.
    static let pcaMaxRows = 1000
    /// The variance fraction of the PCA component count (the paper's 90 %).
    static let pcaFraction = 0.9

    /// The posterior seed of classifier seed `k`: the group-vs-outgroup Monte Carlo stream of one
    /// evaluation (the same for every variant, so variants differ by their hits, not by their draws).
    static func posteriorSeed(classifierSeed k: Int) -> UInt64 { 0x0D06_0000 &+ UInt64(k) }

    /// One feature domain: a split (`train`, `test_id`, `test_ood`) or a value of the domain column
    /// (e.g. a hospital), pooled over the splits whose features are kept.
    struct FeatureDomain {
        var kind: String
        var name: String
        /// Per feature split, the positions (within that split's feature rows) of this domain's rows.
        var rows: [Split: [Int]]
    }

    /// Every domain with at least 2 feature rows: the feature splits, then the domain-column values.
    static func featureDomains(_ table: DatasetTable) -> [FeatureDomain] {
        var splitRows: [Split: [Int]] = [:]
        for s in ClassifyStage.featureSplits { splitRows[s] = table.rows.indices.filter { table.rows[$0].split == s } }
        var out: [FeatureDomain] = []
        for s in ClassifyStage.featureSplits where splitRows[s]!.count >= 2 {
            out.append(FeatureDomain(kind: "split", name: s.rawValue, rows: [s: Array(splitRows[s]!.indices)]))
        }
        for (d, name) in table.domainValues.enumerated() {
            var rows: [Split: [Int]] = [:]
            var count = 0
            for s in ClassifyStage.featureSplits {
                let positions = splitRows[s]!.indices.filter { table.rows[splitRows[s]![$0]].domain == d }
                if !positions.isEmpty { rows[s] = positions; count += positions.count }
            }
            if count >= 2 { out.append(FeatureDomain(kind: "domain", name: name, rows: rows)) }
        }
        return out
    }

    /// The features of `domain` in one classifier's predictions file, or nil when a split's features are absent.
    static func features(_ domain: FeatureDomain, in file: SafeTensorsFile) -> FeatureSet? {
        var values: [Float] = [], dimension = 0, rows = 0
        for s in ClassifyStage.featureSplits {
            guard let positions = domain.rows[s] else { continue }
            guard let t = file.tensors["features." + s.rawValue], t.shape.count == 2, t.shape[1] > 0 else { return nil }
            if dimension == 0 { dimension = t.shape[1] } else if dimension != t.shape[1] { return nil }
            let set = FeatureSet(rows: t.shape[0], dimension: t.shape[1], values: t.data)
            guard positions.allSatisfy({ $0 < set.rows }) else { return nil }
            values += set.selecting(rows: positions).values
            rows += positions.count
        }
        return dimension > 0 ? FeatureSet(rows: rows, dimension: dimension, values: values) : nil
    }

    /// metrics.json `mmd`: MMD² (S estimates on subsamples of n rows) between every pair of domains —
    /// every pair of the splits train / test_id / test_ood, and every pair of domain-column values — in
    /// the penultimate features of the baseline and of the selected synthetic variant (seed 0), with the
    /// Mann–Whitney U test of each pair's estimates against the baseline's (the paper's Fig. 5 analysis).
    static func mmd(_ table: DatasetTable, config: ChainConfig, selected: String?,
                    predictions: [String: SafeTensorsFile]) -> JSONValue {
        var variants = ["baseline"]
        if let selected { variants.append(selected) }
        let domains = featureDomains(table)
        var pairs: [JSONValue] = []
        for i in domains.indices {
            for j in domains.indices where j > i && domains[j].kind == domains[i].kind {
                let (a, b) = (domains[i], domains[j])
                var baseline: [Double]? = nil
                for v in variants {
                    guard let file = predictions["\(v)/seed0"], let x = features(a, in: file), let y = features(b, in: file),
                          x.dimension == y.dimension else { continue }
                    let e = mmdEstimates(x, y, sampleSize: config.evaluate.mmdSampleSize, repeats: config.evaluate.mmdRepeats, seed: 7)
                    var m: [JSONMember] = [
                        JSONMember("kind", .string(a.kind)), JSONMember("a", .string(a.name)), JSONMember("b", .string(b.name)),
                        JSONMember("variant", .string(v)), JSONMember("mean", .number(e.mean)), JSONMember("std", .number(e.std)),
                        JSONMember("n", .int(min(e.sampleSizeX, e.sampleSizeY))), JSONMember("S", .int(e.estimates.count)),
                    ]
                    if v == "baseline" { baseline = e.estimates } else if let base = baseline {
                        m.append(JSONMember("mann_whitney_p_vs_baseline", .number(mannWhitneyU(e.estimates, base).p)))
                    }
                    pairs.append(.object(m))
                }
            }
        }
        return .object([JSONMember("pairs", .array(pairs))])
    }

    /// metrics.json `representations`: per variant and feature split, the number of principal components
    /// holding 90 % of the variance of the classifier's penultimate features (the paper's Supplementary
    /// Fig. 3 measure), on at most `pcaMaxRows` rows, aggregated over seeds.
    static func representationPCA(config: ChainConfig, predictions: [String: SafeTensorsFile]) -> JSONValue {
        var variantMembers: [JSONMember] = []
        for variant in config.variants {
            var splitMembers: [JSONMember] = []
            for split in ClassifyStage.featureSplits {
                let counts = (0..<config.classify.seeds).map { seed -> Double? in
                    guard let t = predictions["\(variant.name)/seed\(seed)"]?.tensors["features." + split.rawValue],
                          t.shape.count == 2, t.shape[0] >= 2, t.shape[1] > 0 else { return nil }
                    var set = FeatureSet(rows: t.shape[0], dimension: t.shape[1], values: t.data)
                    if set.rows > pcaMaxRows {
                        var rng = RNG(seed: 11)
                        set = set.selecting(rows: sampleWithoutReplacement(count: pcaMaxRows, from: set.rows, &rng))
                    }
                    return Double(principalComponentCount(set, fraction: pcaFraction))
                }
                if counts.contains(where: { $0 != nil }) {
                    splitMembers.append(JSONMember(split.rawValue, aggregateSeeds(counts).json))
                }
            }
            variantMembers.append(JSONMember(variant.name, .object(splitMembers)))
        }
        return .object([
            JSONMember("measure", .string("principal components for 90 % of the feature variance")),
            JSONMember("fraction", .number(pcaFraction)),
            JSONMember("max_rows", .int(pcaMaxRows)),
            JSONMember("variants", .object(variantMembers)),
        ])
    }

    /// metrics.json `misclassified_by_every_seed` (the paper's Ext. Fig. 6): per variant and test split,
    /// the labeled rows whose arg-max prediction is wrong for every seed — `count` of `n`, the first
    /// `misclassifiedCap` as dataset-table row indices (0-based, table order) and image paths, and the
    /// count per attribute value (rows with a missing value are not counted there). Single and soft
    /// labels only. `scores[variant][split]` holds one score tensor per seed.
    static func misclassifiedByEverySeed(_ table: DatasetTable, config: ChainConfig, splits: [Split],
                                         scores: [String: [Split: [Tensor]]]) -> JSONValue {
        let k = table.classes.count
        var variantMembers: [JSONMember] = []
        for variant in config.variants {
            var splitMembers: [JSONMember] = []
            for split in splits where split != .val {
                guard let perSeed = scores[variant.name]?[split], !perSeed.isEmpty else { continue }
                let rows = table.rows.indices.filter { table.rows[$0].split == split }
                var wrong: [Int] = [], labeled = 0
                for (i, r) in rows.enumerated() {
                    guard let label = table.rows[r].topClass else { continue }
                    labeled += 1
                    let missedByAll = perSeed.allSatisfy { t in
                        var best = 0
                        for c in 1..<k where t.data[i * k + c] > t.data[i * k + best] { best = c }
                        return best != label
                    }
                    if missedByAll { wrong.append(r) }
                }
                let listed = Array(wrong.prefix(misclassifiedCap))
                var byGroup: [JSONMember] = []
                for (a, name) in table.attributes.enumerated() {
                    var counts = [Int](repeating: 0, count: table.attributeValues[a].count)
                    for r in wrong where table.rows[r].attributes[a] >= 0 { counts[table.rows[r].attributes[a]] += 1 }
                    byGroup.append(JSONMember(name, .object(zip(table.attributeValues[a], counts).map { JSONMember($0.0, .int($0.1)) })))
                }
                splitMembers.append(JSONMember(split.rawValue, .object([
                    JSONMember("n", .int(labeled)), JSONMember("count", .int(wrong.count)),
                    JSONMember("rows", .array(listed.map { .int($0) })),
                    JSONMember("paths", .array(listed.map { .string(table.rows[$0].path) })),
                    JSONMember("by_group", .object(byGroup)),
                ])))
            }
            variantMembers.append(JSONMember(variant.name, .object(splitMembers)))
        }
        return .object([
            JSONMember("seeds", .int(config.classify.seeds)),
            JSONMember("cap", .int(misclassifiedCap)),
            JSONMember("variants", .object(variantMembers)),
        ])
    }
}
