// One evaluation (one model on one split) and its JSON form (DESIGN §6, "one evaluation"):
// { n, accuracy, top3_accuracy, balanced_accuracy, auc {per_class, macro}, high_risk_sensitivity,
//   by_group {attr: {values: {v: {n, accuracy, balanced_accuracy, auc_macro, top3_accuracy,
//   high_risk_sensitivity}}, gap {...}, ratio {...}}}, and for multi-label splits auc_parity }.

/// An attribute column of a split: one value per row.
public struct AttributeColumn: Sendable, Equatable {
    public var name: String
    public var values: [String]
    /// Values to list even when no row has them (n = 0), e.g. every value the manifest declares.
    public var expectedValues: [String]

    public init(name: String, values: [String], expectedValues: [String] = []) {
        self.name = name; self.values = values; self.expectedValues = expectedValues
    }
}

/// Every metric of one evaluation.
public struct SplitMetrics: Sendable, Equatable {
    public var n: Int
    /// Class names, in score-column order (JSON keys of `auc.per_class`).
    public var classes: [String]
    public var accuracy: Double?
    public var top3Accuracy: Double?
    public var balancedAccuracy: Double?
    /// Macro precision/recall/F1 (sklearn, zero_division = 0). Not part of the §6 JSON form.
    public var macro: MacroPRF?
    public var auc: AUCSummary
    public var highRiskSensitivity: Double?
    public var byGroup: [GroupTable]
    /// Multi-label only: per-condition AUC parity between the groups of one attribute (e.g. sex).
    public var aucParity: [AUCParity]?
}

/// Evaluates a single-label split: `labels[i]` is row i's class (0..<C), `scores` its n × C scores,
/// `classes` the C class names, `highRisk` the high-risk class indices, `attributes` the group columns.
/// `posteriorSeed` adds the paper's group-vs-outgroup top-3 posterior to every group table.
public func evaluateSplit(labels: [Int], scores: ScoreMatrix, classes: [String], highRisk: Set<Int> = [],
                          attributes: [AttributeColumn] = [], posteriorSeed: UInt64? = nil) -> SplitMetrics {
    precondition(labels.count == scores.rows && classes.count == scores.columns)
    precondition(labels.allSatisfy { (0..<classes.count).contains($0) }, "labels must be class indices")
    let predicted = predictions(scores)
    let tables = attributes.map {
        groupTable(attribute: $0.name, groups: $0.values, labels: labels, scores: scores, highRisk: highRisk,
                   expectedValues: $0.expectedValues, posteriorSeed: posteriorSeed)
    }
    return SplitMetrics(
        n: labels.count, classes: classes,
        accuracy: accuracy(labels: labels, predicted: predicted),
        top3Accuracy: topKAccuracy(labels: labels, scores: scores, k: 3),
        balancedAccuracy: balancedAccuracy(labels: labels, predicted: predicted, classes: classes.count),
        macro: macroPRF(labels: labels, predicted: predicted, classes: classes.count),
        auc: oneVsRestAUC(labels: labels, scores: scores),
        highRiskSensitivity: highRiskSensitivity(labels: labels, predicted: predicted, highRisk: highRisk),
        byGroup: tables, aucParity: nil)
}

extension GroupMetrics {
    /// `{n, accuracy, balanced_accuracy, auc_macro, top3_accuracy, high_risk_sensitivity}`.
    public var json: JSONValue {
        .object([JSONMember("n", .int(n))] + named.map { JSONMember($0.0, .number($0.1)) })
    }
}

extension PosteriorDifference {
    /// `{mean, std, lower, upper, samples}`.
    public var json: JSONValue {
        .fields(["mean": .number(mean), "std": .number(std), "lower": .number(lower), "upper": .number(upper),
                 "samples": .int(samples)])
    }
}

extension GroupSpread {
    /// The spread as a JSON object with the same keys as a group's metrics (minus n).
    public var json: JSONValue { .object(named.map { JSONMember($0.0, .number($0.1)) }) }
}

extension GroupTable {
    /// `{values: {v: metrics}, gap: {...}, ratio: {...}}`; with the posterior, each value's object also
    /// holds `top3_vs_outgroup: {mean, std, lower, upper, samples}`.
    public var json: JSONValue {
        .fields([
            "values": .object(values.indices.map { i in
                var value = metrics[i].json
                if let post = top3VsOutgroup?[i], case .object(var members) = value {
                    members.append(JSONMember("top3_vs_outgroup", post.json))
                    value = .object(members)
                }
                return JSONMember(values[i], value)
            }),
            "gap": gap.json,
            "ratio": ratio.json,
        ])
    }
}

extension SplitMetrics {
    /// The one-evaluation JSON object of DESIGN §6 (NaN and undefined → null).
    public var json: JSONValue {
        var members: [JSONMember] = [
            JSONMember("n", .int(n)),
            JSONMember("accuracy", .number(accuracy)),
            JSONMember("top3_accuracy", .number(top3Accuracy)),
            JSONMember("balanced_accuracy", .number(balancedAccuracy)),
            JSONMember("auc", .fields([
                "per_class": .object(zip(classes, auc.perClass).map { JSONMember($0.0, .number($0.1)) }),
                "macro": .number(auc.macro),
            ])),
            JSONMember("high_risk_sensitivity", .number(highRiskSensitivity)),
            JSONMember("by_group", .object(byGroup.map { JSONMember($0.attribute, $0.json) })),
        ]
        if let parity = aucParity {
            members.append(JSONMember("auc_parity", .object(zip(classes, parity).map { name, p in
                JSONMember(name, .fields([
                    "groups": .object(p.byGroup.map { JSONMember($0.value, .number($0.auc)) }),
                    "gap": .number(p.gap),
                ]))
            })))
        }
        return .object(members)
    }
}

/// Evaluates a multi-label split (radiology): `targets[i*K+k]` ∈ {0, 1}, `mask` false for uncertain
/// entries, `scores` n × K per-condition scores. Fills `auc` per condition and, when `parityAttribute`
/// is given, `aucParity` across its groups; the single-label metrics are left undefined.
public func evaluateMultiLabel(targets: [Int], mask: [Bool]?, scores: ScoreMatrix, conditions: [String],
                               parityAttribute: AttributeColumn? = nil) -> SplitMetrics {
    precondition(conditions.count == scores.columns)
    return SplitMetrics(
        n: scores.rows, classes: conditions, accuracy: nil, top3Accuracy: nil, balancedAccuracy: nil,
        macro: nil, auc: multiLabelAUC(targets: targets, mask: mask, scores: scores), highRiskSensitivity: nil,
        byGroup: [],
        aucParity: parityAttribute.map { aucParity(targets: targets, mask: mask, scores: scores, groups: $0.values) })
}
