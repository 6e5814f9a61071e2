// Per-group tables: the metrics of each attribute value, with gap (max − min) and ratio (min / max)
// across values — fairlearn's `MetricFrame.difference()` / `.ratio()` "between_groups" convention.
import Tensors

/// Metrics of one group (one value of an attribute). Metrics are `nil` where undefined (e.g. an empty
/// group, or a group whose rows all share one class for `aucMacro`).
public struct GroupMetrics: Sendable, Equatable {
    public var n: Int
    public var accuracy: Double?
    public var balancedAccuracy: Double?
    public var aucMacro: Double?
    public var top3Accuracy: Double?
    public var highRiskSensitivity: Double?

    /// The metric fields in table order, paired with their JSON names.
    public var named: [(String, Double?)] {
        [("accuracy", accuracy), ("balanced_accuracy", balancedAccuracy), ("auc_macro", aucMacro),
         ("top3_accuracy", top3Accuracy), ("high_risk_sensitivity", highRiskSensitivity)]
    }
}

/// Gap or ratio of each metric over the groups of one attribute (`nil` where no group defines it).
public struct GroupSpread: Sendable, Equatable {
    public var accuracy: Double?
    public var balancedAccuracy: Double?
    public var aucMacro: Double?
    public var top3Accuracy: Double?
    public var highRiskSensitivity: Double?

    /// The fields paired with their JSON names (same order as `GroupMetrics.named`).
    public var named: [(String, Double?)] {
        [("accuracy", accuracy), ("balanced_accuracy", balancedAccuracy), ("auc_macro", aucMacro),
         ("top3_accuracy", top3Accuracy), ("high_risk_sensitivity", highRiskSensitivity)]
    }
}

/// One attribute's table.
public struct GroupTable: Sendable, Equatable {
    public var attribute: String
    /// Values in sorted order (plus requested values that had no rows, with n = 0).
    public var values: [String]
    public var metrics: [GroupMetrics]
    public var gap: GroupSpread
    public var ratio: GroupSpread
    /// The paper's posterior of top-3 accuracy (group − outgroup) per value, when requested.
    public var top3VsOutgroup: [PosteriorDifference]? = nil

    /// Metrics of `value`, if it is in the table.
    public subscript(value: String) -> GroupMetrics? {
        values.firstIndex(of: value).map { metrics[$0] }
    }
}

/// Gap = max − min and ratio = min / max over the defined values (fairlearn). One defined value gives
/// gap 0 and ratio 1; none gives `nil`; ratio is `nil` when max is 0 (fairlearn's 0/0 = NaN).
public func gapAndRatio(_ values: [Double?]) -> (gap: Double?, ratio: Double?) {
    let defined = values.compactMap { $0 }
    guard let lo = defined.min(), let hi = defined.max() else { return (nil, nil) }
    return (hi - lo, hi == 0 ? nil : lo / hi)
}

/// Metrics of the rows at `rows`.
public func groupMetrics(rows: [Int], labels: [Int], scores: ScoreMatrix, highRisk: Set<Int>) -> GroupMetrics {
    if rows.isEmpty { return GroupMetrics(n: 0) }
    let y = rows.map { labels[$0] }
    let s = scores.selecting(rows: rows)
    let predicted = predictions(s)
    return GroupMetrics(
        n: rows.count,
        accuracy: accuracy(labels: y, predicted: predicted),
        balancedAccuracy: balancedAccuracy(labels: y, predicted: predicted, classes: s.columns),
        aucMacro: oneVsRestAUC(labels: y, scores: s).macro,
        top3Accuracy: topKAccuracy(labels: y, scores: s, k: 3),
        highRiskSensitivity: highRiskSensitivity(labels: y, predicted: predicted, highRisk: highRisk))
}

extension GroupMetrics {
    /// A group with no rows: n = 0 and every metric undefined.
    public init(n: Int) {
        self.init(n: n, accuracy: nil, balancedAccuracy: nil, aucMacro: nil, top3Accuracy: nil,
                  highRiskSensitivity: nil)
    }
}

/// The table of one attribute: `groups[i]` is row i's value. `expectedValues` (e.g. every value the
/// manifest declares) are listed even when no row has them, with n = 0 and undefined metrics, so that
/// an absent group is visible rather than silently missing; they do not enter gap or ratio.
/// With `posteriorSeed`, each value also gets the group-vs-outgroup top-3 posterior
/// (`posteriorSamples` draws; value i uses the stream `RNG(seed).split(i)`).
public func groupTable(attribute: String, groups: [String], labels: [Int], scores: ScoreMatrix,
                       highRisk: Set<Int>, expectedValues: [String] = [], posteriorSeed: UInt64? = nil,
                       posteriorSamples: Int = 100_000) -> GroupTable {
    precondition(groups.count == labels.count && labels.count == scores.rows)
    var rowsOf = [String: [Int]]()
    for (i, g) in groups.enumerated() { rowsOf[g, default: []].append(i) }
    let values = Array(Set(groups).union(expectedValues)).sorted()
    let metrics = values.map {
        groupMetrics(rows: rowsOf[$0] ?? [], labels: labels, scores: scores, highRisk: highRisk)
    }
    func spread(_ pick: (GroupMetrics) -> Double?) -> (Double?, Double?) { gapAndRatio(metrics.map(pick)) }
    let acc = spread(\.accuracy), bal = spread(\.balancedAccuracy), auc = spread(\.aucMacro)
    let top3 = spread(\.top3Accuracy), risk = spread(\.highRiskSensitivity)
    var table = GroupTable(
        attribute: attribute, values: values, metrics: metrics,
        gap: GroupSpread(accuracy: acc.0, balancedAccuracy: bal.0, aucMacro: auc.0, top3Accuracy: top3.0,
                         highRiskSensitivity: risk.0),
        ratio: GroupSpread(accuracy: acc.1, balancedAccuracy: bal.1, aucMacro: auc.1, top3Accuracy: top3.1,
                           highRiskSensitivity: risk.1))
    if let seed = posteriorSeed {
        let hits = topKHits(labels: labels, scores: scores, k: 3)
        let totalHits = hits.lazy.filter { $0 }.count
        let base = RNG(seed: seed)
        table.top3VsOutgroup = values.enumerated().map { index, v in
            let rows = rowsOf[v] ?? []
            let groupHits = rows.lazy.filter { hits[$0] }.count
            var child = base.split(UInt64(index))
            return posteriorDifference(groupHits: groupHits, groupCount: rows.count,
                                       outgroupHits: totalHits - groupHits, outgroupCount: labels.count - rows.count,
                                       samples: posteriorSamples, seed: child.next())
        }
    }
    return table
}
