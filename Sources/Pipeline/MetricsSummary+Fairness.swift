import Fairness

extension MetricsSummary {
    /// Reads a metrics.json value built in memory by the Fairness module (ordered JSON tree), e.g. by
    /// the evaluate stage before it writes the file.
    public init(fairness value: Fairness.JSONValue) throws {
        try self.init(json: Array(value.serialized(indent: nil).utf8))
    }
}

/// Paired per-seed comparison "A − B" of two variants on one split (metrics.json `comparisons`): the
/// worst-group accuracy decides the verdict; accuracy and the fairness gap (lower is better) are reported
/// beside it.
public struct SplitComparison: Equatable, Sendable {
    public var worstGroupAccuracy: PairedDifference
    public var accuracy: PairedDifference
    public var gap: PairedDifference

    public init(_ a: SplitSummary, _ b: SplitSummary) {
        func paired(_ x: MetricStat?, _ y: MetricStat?) -> PairedDifference {
            pairedDifference(x?.perSeed ?? [], y?.perSeed ?? [])
        }
        worstGroupAccuracy = paired(a.worstGroupAccuracy, b.worstGroupAccuracy)
        accuracy = paired(a.accuracy, b.accuracy)
        gap = paired(a.accuracyGap, b.accuracyGap)
    }

    /// `helped` only when the 95 % interval of the worst-group difference lies above 0 (docs/metrics.md).
    public var verdict: PairedVerdict { worstGroupAccuracy.verdict }

    public var json: JSONValue {
        .fields([
            "verdict": .string(verdict.rawValue),
            "worst_group_accuracy": worstGroupAccuracy.json,
            "accuracy": accuracy.json,
            "gap": gap.json,
        ])
    }
}
