// ROC-AUC: binary (rank form, ties ½), one-vs-rest per class, macro, multi-label with masks, AUC parity.
//
// The binary AUC equals the area under scikit-learn's trapezoidal ROC curve (`roc_auc_score`): it is the
// probability that a random positive scores above a random negative, ties counting ½. We compute it
// exactly by sorting once and walking groups of tied scores, with integer counts until the final division.

/// Binary ROC-AUC of `scores` for `positive` flags; `nil` when there are no positives or no negatives
/// (scikit-learn raises there; DESIGN §6 reports `null`).
public func rocAUC(scores: [Double], positive: [Bool]) -> Double? {
    precondition(scores.count == positive.count)
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var negativesBelow = 0          // negatives with a strictly lower score than the current tie group
    var twiceConcordant = 0         // 2 × (pairs pos > neg) + 1 × (tied pairs), kept integral
    var positives = 0, negatives = 0
    var g = 0
    while g < order.count {
        var end = g, pos = 0, neg = 0
        while end < order.count && scores[order[end]] == scores[order[g]] {
            if positive[order[end]] { pos += 1 } else { neg += 1 }
            end += 1
        }
        twiceConcordant += 2 * pos * negativesBelow + pos * neg
        negativesBelow += neg
        positives += pos; negatives += neg
        g = end
    }
    if positives == 0 || negatives == 0 { return nil }
    return Double(twiceConcordant) / (2 * Double(positives) * Double(negatives))
}

/// One-vs-rest AUC of each class and their macro mean.
public struct AUCSummary: Sendable, Equatable {
    /// AUC of class c against the rest, `nil` where class c has no positive or no negative row.
    public var perClass: [Double?]
    /// Unweighted mean of the defined per-class AUCs; `nil` when none is defined.
    public var macro: Double?
}

/// One-vs-rest AUC per class (column c of `scores` against `labels == c`) and the macro mean.
public func oneVsRestAUC(labels: [Int], scores: ScoreMatrix) -> AUCSummary {
    precondition(labels.count == scores.rows)
    var perClass = [Double?]()
    for c in 0..<scores.columns {
        let column = (0..<scores.rows).map { scores[$0, c] }
        perClass.append(rocAUC(scores: column, positive: labels.map { $0 == c }))
    }
    return AUCSummary(perClass: perClass, macro: meanOfDefined(perClass))
}

/// Mean of the non-nil values; `nil` when there are none.
public func meanOfDefined(_ values: [Double?]) -> Double? {
    let defined = values.compactMap { $0 }
    return defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count)
}

/// Multi-label AUC per condition: column k of `scores` against `targets[i*K+k] != 0`, over the rows with
/// `mask[i*K+k] == true` (false marks an uncertain or missing label, which is left out). `mask == nil`
/// uses every entry.
public func multiLabelAUC(targets: [Int], mask: [Bool]?, scores: ScoreMatrix) -> AUCSummary {
    let k = scores.columns
    precondition(targets.count == scores.rows * k && (mask == nil || mask!.count == targets.count))
    var perCondition = [Double?]()
    for c in 0..<k {
        var column = [Double](), positive = [Bool]()
        for i in 0..<scores.rows where mask?[i * k + c] ?? true {
            column.append(scores[i, c]); positive.append(targets[i * k + c] != 0)
        }
        perCondition.append(rocAUC(scores: column, positive: positive))
    }
    return AUCSummary(perClass: perCondition, macro: meanOfDefined(perCondition))
}

/// AUC of one condition in each group of an attribute and the gap between groups.
public struct AUCParity: Sendable, Equatable {
    /// Group value → AUC of the condition within that group (`nil` when undefined there).
    public var byGroup: [(value: String, auc: Double?)]
    /// max − min over the groups whose AUC is defined; `nil` when none is.
    public var gap: Double?

    public static func == (a: AUCParity, b: AUCParity) -> Bool {
        a.gap == b.gap && a.byGroup.map(\.value) == b.byGroup.map(\.value) && a.byGroup.map(\.auc) == b.byGroup.map(\.auc)
    }
}

/// AUC parity (radiology, DESIGN §6): for each condition, the AUC within each value of `groups`
/// (e.g. sex) and the gap max − min. Values are listed in sorted order; rows whose value is missing
/// (`nil`) belong to no group.
public func aucParity(targets: [Int], mask: [Bool]?, scores: ScoreMatrix, groups: [String?]) -> [AUCParity] {
    precondition(groups.count == scores.rows)
    let k = scores.columns
    let values = Array(Set(groups.compactMap { $0 })).sorted()
    var out = [AUCParity]()
    for c in 0..<k {
        var rows = [(value: String, auc: Double?)]()
        for v in values {
            var column = [Double](), positive = [Bool]()
            for i in 0..<scores.rows where groups[i] == v && (mask?[i * k + c] ?? true) {
                column.append(scores[i, c]); positive.append(targets[i * k + c] != 0)
            }
            rows.append((v, rocAUC(scores: column, positive: positive)))
        }
        let defined = rows.compactMap(\.auc)
        out.append(AUCParity(byGroup: rows, gap: defined.isEmpty ? nil : defined.max()! - defined.min()!))
    }
    return out
}
