// One evaluation (one model on one split) and its JSON form (DESIGN §6, "one evaluation"):
// { n, accuracy, top3_accuracy, balanced_accuracy, precision_macro, recall_macro, f1_macro,
//   auc {per_class, macro}, high_risk_sensitivity,
//   by_group {attr: {values: {v: {n, accuracy, balanced_accuracy, auc_macro, top3_accuracy,
//   high_risk_sensitivity}}, gap {...}, ratio {...}, missing_attribute {...}}}, and for multi-label
//   splits auc_parity {attr: {condition: {groups, gap}}} }.

/// An attribute column of a split: one value per row.
public struct AttributeColumn: Sendable, Equatable {
    public var name: String
    /// Row i's value; `nil` when it is missing (a blank cell): such rows form no group (`GroupTable.missing`).
    public var values: [String?]
    /// Values to list even when no row has them (n = 0), e.g. every value the manifest declares.
    public var expectedValues: [String]

    public init(name: String, values: [String?], expectedValues: [String] = []) {
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
    /// Macro precision/recall/F1 (sklearn, zero_division = 0): JSON `precision_macro`, `recall_macro`,
    /// `f1_macro` (Wang et al. report them).
    public var macro: MacroPRF?
    public var auc: AUCSummary
    public var highRiskSensitivity: Double?
    public var byGroup: [GroupTable]
    /// Multi-label only: per attribute, per-condition AUC parity between its groups (e.g. sex, race).
    public var aucParity: [AttributeAUCParity]?
}

/// AUC parity of every condition across the groups of one attribute.
public struct AttributeAUCParity: Sendable, Equatable {
    public var attribute: String
    /// One entry per condition, in condition order.
    public var conditions: [AUCParity]
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
    /// holds `top3_vs_outgroup: {mean, std, lower, upper, samples}`; multi-label tables add
    /// `auc_per_class: {condition: auc}` to every value, gap and ratio; rows with a missing attribute
    /// appear as `missing_attribute: {n, ...metrics}` (only when there are some).
    public var json: JSONValue {
        func perClass(_ v: [Double?]?) -> [JSONMember] {
            guard let v, !conditions.isEmpty else { return [] }
            return [JSONMember("auc_per_class", .object(zip(conditions, v).map { JSONMember($0.0, .number($0.1)) }))]
        }
        func object(_ base: JSONValue, _ extra: [JSONMember]) -> JSONValue {
            guard case .object(let members) = base else { return base }
            return .object(members + extra)
        }
        var members = [
            JSONMember("values", .object(values.indices.map { i in
                var extra = perClass(metrics[i].aucPerClass)
                if let post = top3VsOutgroup?[i] { extra.append(JSONMember("top3_vs_outgroup", post.json)) }
                return JSONMember(values[i], object(metrics[i].json, extra))
            })),
            JSONMember("gap", object(gap.json, perClass(gap.aucPerClass))),
            JSONMember("ratio", object(ratio.json, perClass(ratio.aucPerClass))),
        ]
        if let missing {
            members.append(JSONMember("missing_attribute", object(missing.json, perClass(missing.aucPerClass))))
        }
        return .object(members)
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
            JSONMember("precision_macro", .number(macro?.precision)),
            JSONMember("recall_macro", .number(macro?.recall)),
            JSONMember("f1_macro", .number(macro?.f1)),
            JSONMember("auc", .fields([
                "per_class": .object(zip(classes, auc.perClass).map { JSONMember($0.0, .number($0.1)) }),
                "macro": .number(auc.macro),
            ])),
            JSONMember("high_risk_sensitivity", .number(highRiskSensitivity)),
            JSONMember("by_group", .object(byGroup.map { JSONMember($0.attribute, $0.json) })),
        ]
        if let parity = aucParity {
            members.append(JSONMember("auc_parity", .object(parity.map { a in
                JSONMember(a.attribute, .object(zip(classes, a.conditions).map { name, p in
                    JSONMember(name, .fields([
                        "groups": .object(p.byGroup.map { JSONMember($0.value, .number($0.auc)) }),
                        "gap": .number(p.gap),
                    ]))
                }))
            })))
        }
        return .object(members)
    }
}

/// Evaluates a multi-label split (radiology): `targets[i*K+k]` ∈ {0, 1}, `mask` false for uncertain
/// entries, `scores` n × K per-condition scores. Fills `auc` per condition, a `multiLabelGroupTable` per
/// attribute in `byGroup` (per-group per-condition AUC, their mean, best − worst gaps) and `aucParity`
/// for every attribute (the same per-condition numbers, over the values that have rows); the
/// single-label metrics are left undefined.
public func evaluateMultiLabel(targets: [Int], mask: [Bool]?, scores: ScoreMatrix, conditions: [String],
                               attributes: [AttributeColumn] = []) -> SplitMetrics {
    precondition(conditions.count == scores.columns)
    let tables = attributes.map {
        multiLabelGroupTable(attribute: $0.name, groups: $0.values, targets: targets, mask: mask, scores: scores,
                             conditions: conditions, expectedValues: $0.expectedValues)
    }
    let parity = tables.map { t in
        AttributeAUCParity(attribute: t.attribute, conditions: conditions.indices.map { c in
            let present = t.values.indices.filter { t.metrics[$0].n > 0 }
            return AUCParity(byGroup: present.map { (t.values[$0], t.metrics[$0].aucPerClass![c]) },
                             gap: t.gap.aucPerClass![c])
        })
    }
    return SplitMetrics(
        n: scores.rows, classes: conditions, accuracy: nil, top3Accuracy: nil, balancedAccuracy: nil,
        macro: nil, auc: multiLabelAUC(targets: targets, mask: mask, scores: scores), highRiskSensitivity: nil,
        byGroup: tables, aucParity: attributes.isEmpty ? nil : parity)
}
