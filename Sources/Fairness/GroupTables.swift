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
    /// Multi-label tables only: AUC of each condition within the group (`nil` where undefined there);
    /// `aucMacro` is then their mean over the defined conditions.
    public var aucPerClass: [Double?]? = nil

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
    /// Multi-label tables only: the spread of each condition's AUC over the groups.
    public var aucPerClass: [Double?]? = nil

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
    /// The rows whose attribute is missing (blank): reported apart, never a group of their own, so they
    /// enter neither the gap nor the ratio nor any value's outgroup. `nil` when every row has a value.
    public var missing: GroupMetrics? = nil
    /// Multi-label tables: the condition names, in the order of `GroupMetrics.aucPerClass`.
    public var conditions: [String] = []

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

/// The table of one attribute: `groups[i]` is row i's value, `nil` when it is missing (a blank cell).
/// Missing rows are summarised apart in `missing` and are no group: they enter neither gap nor ratio nor
/// any value's outgroup (we do not know whether they belong to it). `expectedValues` (e.g. every value
/// the manifest declares) are listed even when no row has them, with n = 0 and undefined metrics, so
/// that an absent group is visible rather than silently missing; they do not enter gap or ratio.
/// With `posteriorSeed`, each value also gets the group-vs-outgroup top-3 posterior
/// (`posteriorSamples` draws; value i uses the stream `RNG(seed).split(i)`).
public func groupTable(attribute: String, groups: [String?], labels: [Int], scores: ScoreMatrix,
                       highRisk: Set<Int>, expectedValues: [String] = [], posteriorSeed: UInt64? = nil,
                       posteriorSamples: Int = 100_000) -> GroupTable {
    precondition(groups.count == labels.count && labels.count == scores.rows)
    let (values, rowsOf, missingRows) = partition(groups, expectedValues: expectedValues)
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
    if !missingRows.isEmpty {
        table.missing = groupMetrics(rows: missingRows, labels: labels, scores: scores, highRisk: highRisk)
    }
    if let seed = posteriorSeed {
        let hits = topKHits(labels: labels, scores: scores, k: 3)
        let known = (0..<labels.count).filter { groups[$0] != nil }
        let knownHits = known.lazy.filter { hits[$0] }.count
        let base = RNG(seed: seed)
        table.top3VsOutgroup = values.enumerated().map { index, v in
            let rows = rowsOf[v] ?? []
            let groupHits = rows.lazy.filter { hits[$0] }.count
            var child = base.split(UInt64(index))
            return posteriorDifference(groupHits: groupHits, groupCount: rows.count,
                                       outgroupHits: knownHits - groupHits, outgroupCount: known.count - rows.count,
                                       samples: posteriorSamples, seed: child.next())
        }
    }
    return table
}

/// Sorted values (present or expected), the rows of each, and the rows whose value is missing.
func partition(_ groups: [String?], expectedValues: [String]) -> (values: [String], rowsOf: [String: [Int]], missing: [Int]) {
    var rowsOf = [String: [Int]](), missing = [Int]()
    for (i, g) in groups.enumerated() {
        if let g { rowsOf[g, default: []].append(i) } else { missing.append(i) }
    }
    return (Array(Set(rowsOf.keys).union(expectedValues)).sorted(), rowsOf, missing)
}

/// Multi-label (radiology) table of one attribute: per group, the AUC of every condition within the group
/// (masked entries left out, as in `multiLabelAUC`) and `auc_macro`, their mean over the conditions
/// defined there; gap and ratio of `auc_macro` (the paper's best − worst AUC gap, e.g. across races) and
/// of each condition's AUC (per-condition AUC parity). Accuracy-type metrics are undefined (`nil`).
/// Missing and expected values behave as in `groupTable`.
public func multiLabelGroupTable(attribute: String, groups: [String?], targets: [Int], mask: [Bool]?,
                                 scores: ScoreMatrix, conditions: [String], expectedValues: [String] = []) -> GroupTable {
    let k = scores.columns
    precondition(groups.count == scores.rows && conditions.count == k && targets.count == scores.rows * k)
    let (values, rowsOf, missingRows) = partition(groups, expectedValues: expectedValues)
    func metrics(_ rows: [Int]) -> GroupMetrics {
        var t = [Int](), m: [Bool]? = mask == nil ? nil : []
        t.reserveCapacity(rows.count * k)
        for r in rows {
            t.append(contentsOf: targets[(r * k)..<((r + 1) * k)])
            if let mask { m!.append(contentsOf: mask[(r * k)..<((r + 1) * k)]) }
        }
        let auc = multiLabelAUC(targets: t, mask: m, scores: scores.selecting(rows: rows))
        var g = GroupMetrics(n: rows.count)
        g.aucMacro = auc.macro
        g.aucPerClass = auc.perClass
        return g
    }
    let all = values.map { metrics(rowsOf[$0] ?? []) }
    let macro = gapAndRatio(all.map(\.aucMacro))
    let perClass = (0..<k).map { c in gapAndRatio(all.map { $0.aucPerClass![c] }) }
    var table = GroupTable(
        attribute: attribute, values: values, metrics: all,
        gap: GroupSpread(accuracy: nil, balancedAccuracy: nil, aucMacro: macro.gap, top3Accuracy: nil,
                         highRiskSensitivity: nil, aucPerClass: perClass.map(\.gap)),
        ratio: GroupSpread(accuracy: nil, balancedAccuracy: nil, aucMacro: macro.ratio, top3Accuracy: nil,
                           highRiskSensitivity: nil, aucPerClass: perClass.map(\.ratio)))
    table.conditions = conditions
    if !missingRows.isEmpty { table.missing = metrics(missingRows) }
    return table
}
