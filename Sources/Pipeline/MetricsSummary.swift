import Foundation
import Store

/// One metric across seeds: `{"mean", "std", "per_seed"}` in metrics.json (a plain number is read as
/// one seed with no std).
public struct MetricStat: Equatable, Sendable {
    public var mean: Double?
    public var std: Double?
    public var perSeed: [Double?]

    public init(mean: Double?, std: Double?, perSeed: [Double?]) {
        self.mean = mean
        self.std = std
        self.perSeed = perSeed
    }

    /// Reads a seed-aggregated object or a plain number; nil for anything else.
    init?(_ value: JSONValue?) {
        switch value {
        case .number(let d)?: self.init(mean: d, std: nil, perSeed: [d])
        case .object(let o)?:
            guard o["mean"] != nil || o["per_seed"] != nil else { return nil }
            var perSeed: [Double?] = []
            if case .array(let items)? = o["per_seed"] {
                perSeed = items.map { if case .number(let d) = $0 { return d } else { return nil } }
            }
            self.init(mean: MetricStat.number(o["mean"]), std: MetricStat.number(o["std"]), perSeed: perSeed)
        default: return nil
        }
    }

    static func number(_ v: JSONValue?) -> Double? { if case .number(let d)? = v { return d } else { return nil } }

    /// Combines several metrics seed by seed with `reduce` (e.g. the minimum over groups), then takes
    /// mean and sample std (ddof 1, the Fairness module's convention) over the seeds where every input
    /// is defined. Without per-seed values it reduces the means and leaves std undefined.
    static func combine(_ stats: [MetricStat], _ reduce: ([Double]) -> Double) -> MetricStat? {
        guard !stats.isEmpty else { return nil }
        let seeds = stats.map(\.perSeed.count).min() ?? 0
        var perSeed: [Double?] = []
        if seeds > 0 {
            for s in 0..<seeds {
                let values = stats.compactMap { $0.perSeed[s] }
                perSeed.append(values.count == stats.count ? reduce(values) : nil)
            }
        }
        let defined = perSeed.compactMap { $0 }
        if defined.isEmpty {
            let means = stats.compactMap(\.mean)
            guard means.count == stats.count else { return nil }
            return MetricStat(mean: reduce(means), std: nil, perSeed: perSeed)
        }
        let mean = defined.reduce(0, +) / Double(defined.count)
        var std: Double?
        if defined.count > 1 {
            std = (defined.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(defined.count - 1)).squareRoot()
        }
        return MetricStat(mean: mean, std: std, perSeed: perSeed)
    }
}

/// One attribute value's row of a `by_group` table.
public struct GroupValue: Equatable, Sendable {
    public var value: String
    public var n: Double?
    public var accuracy: MetricStat?
}

/// A split's `by_group` entry for one attribute.
public struct GroupBreakdown: Equatable, Sendable {
    public var attribute: String
    /// Values sorted by name.
    public var values: [GroupValue]
    /// `gap.accuracy` (max − min over values).
    public var accuracyGap: MetricStat?
    /// `missing_attribute`: the rows without a value (in no group, not in the gap); nil when there are none.
    public var missing: GroupValue? = nil
}

/// The numbers of one split (`test_id`, `test_ood`, …) of one variant.
public struct SplitSummary: Equatable, Sendable {
    public var accuracy: MetricStat?
    public var balancedAccuracy: MetricStat?
    public var highRiskSensitivity: MetricStat?
    /// Attributes sorted by name.
    public var groups: [GroupBreakdown]

    /// Worst-group accuracy: per seed, the lowest group accuracy over every attribute value; then mean ± std.
    public var worstGroupAccuracy: MetricStat? {
        MetricStat.combine(groups.flatMap { $0.values.compactMap(\.accuracy) }) { $0.min()! }
    }

    /// Fairness gap: per seed, the largest accuracy gap over the attributes; then mean ± std.
    public var accuracyGap: MetricStat? {
        MetricStat.combine(groups.compactMap(\.accuracyGap)) { $0.max()! }
    }
}

/// metrics.json `generator`: per (class, attribute value) cell and per value, what the auditor makes of
/// the synthetic images (`GeneratorAudit`).
public struct GeneratorSummary: Equatable, Sendable {
    /// One row: its class (nil for a per-value or overall row), its value (nil: all values) and the
    /// audit's numbers, as `GeneratorAudit` computed them.
    public struct Row: Equatable, Sendable {
        public var className: String?
        public var value: String?
        public var stats: GeneratorAudit.Entry
    }
    public var attribute: String?
    public var cells: [Row]
    public var groups: [Row]
    public var overall: Row?

    init?(_ value: JSONValue?) {
        guard case .object(let o)? = value else { return nil }
        func string(_ v: JSONValue?) -> String? { if case .string(let s)? = v { return s } else { return nil } }
        func row(_ v: JSONValue) -> Row {
            Row(className: string(v["class"]), value: string(v["value"]), stats: GeneratorAudit.Entry(
                synthetic: Int(MetricStat.number(v["synthetic"]) ?? 0), fidelity: MetricStat.number(v["fidelity"]),
                validation: Int(MetricStat.number(v["val"]) ?? 0),
                auditorValidationAccuracy: MetricStat.number(v["auditor_val_accuracy"]),
                mmd: MetricStat.number(v["mmd"]), memorised: MetricStat.number(v["memorised"])))
        }
        func rows(_ v: JSONValue?) -> [Row] { if case .array(let a)? = v { return a.map(row) } else { return [] } }
        attribute = string(o["attribute"])
        cells = rows(o["cells"])
        groups = rows(o["groups"])
        overall = o["overall"].map(row)
    }
}

/// metrics.json `levers`: the guidance weight and confidence filter fair-sample used, and what the val
/// pilot scored for each candidate (`LeverPilot`).
public struct LeversSummary: Equatable, Sendable {
    public struct Candidate: Equatable, Sendable {
        public var guidance: Double
        public var minConfidence: Double
        public var score: Double?
        public var kept: Int
        public var drawn: Int
    }
    public var guidance: Double
    public var minConfidence: Double
    public var candidates: [Candidate]
    public var redrawn: Int

    init?(_ value: JSONValue?) {
        guard case .object(let o)? = value, let g = MetricStat.number(o["chosen"]?["guidance"]),
              let t = MetricStat.number(o["chosen"]?["min_confidence"]) else { return nil }
        guidance = g; minConfidence = t
        redrawn = Int(MetricStat.number(o["redrawn"]) ?? 0)
        if case .array(let rows)? = o["candidates"] {
            candidates = rows.map { r in
                Candidate(guidance: MetricStat.number(r["guidance"]) ?? .nan, minConfidence: MetricStat.number(r["min_confidence"]) ?? .nan,
                          score: MetricStat.number(r["score"]), kept: Int(MetricStat.number(r["kept"]) ?? 0),
                          drawn: Int(MetricStat.number(r["drawn"]) ?? 0))
            }
        } else {
            candidates = []
        }
    }
}

/// One variant (`baseline`, `synthetic_a0.50`, `oversample`, …).
public struct VariantSummary: Equatable, Sendable {
    public var name: String
    public var seeds: Int?
    /// Split name → numbers.
    public var splits: [String: SplitSummary]

    /// α of a plain mixing variant: 1.0 for `baseline`, the number of `synthetic_a<α>`; nil otherwise
    /// (including stacked variants such as `synthetic_a0.50+heuristic`).
    public var alpha: Double? {
        if name == "baseline" { return 1 }
        guard name.hasPrefix("synthetic_a"), !name.contains("+") else { return nil }
        return Double(name.dropFirst("synthetic_a".count))
    }

    /// α of any variant that mixes in synthetic data, plain or stacked (`synthetic_a0.50+heuristic` → 0.5);
    /// nil for the baseline and the real-only baselines.
    public var syntheticAlpha: Double? {
        guard name.hasPrefix("synthetic_a") else { return nil }
        return Double(name.dropFirst("synthetic_a".count).prefix { $0 != "+" })
    }
}

/// The parts of metrics.json (DESIGN §6, schema 1) that the report and the summary table show.
public struct MetricsSummary: Equatable, Sendable {
    public var dataset: String
    public var version: Int?
    /// Variants in display order: baseline, synthetic by descending α, stacked synthetic, then the rest
    /// by name (so the order never depends on JSON key order).
    public var variants: [VariantSummary]
    public var selectedAlpha: Double?
    /// metrics.json `selected_variant`: the synthetic variant chosen on val (may be stacked).
    public var selectedVariant: String?
    public var selection: String?
    /// metrics.json `generator` (the auditor's view of the synthetic images), when present.
    public var generator: GeneratorSummary?
    /// metrics.json `levers` (guidance and confidence filter chosen on val), when present.
    public var levers: LeversSummary?

    /// Parses metrics.json bytes.
    public init(json bytes: [UInt8]) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch {
            throw PipelineError("metrics.json: not valid JSON (\(error))")
        }
        try self.init(value)
    }

    /// Reads a parsed metrics.json value; errors name the field and what was expected.
    public init(_ value: JSONValue) throws {
        guard case .object(let root) = value else { throw PipelineError("metrics.json: expected an object at the top level") }
        guard case .number(let schema)? = root["schema"], schema == 1 else {
            throw PipelineError("metrics.json field 'schema': expected 1")
        }
        guard case .object(let variants)? = root["variants"] else {
            throw PipelineError("metrics.json field 'variants': expected an object of variant name → results")
        }
        if case .string(let d)? = root["dataset"] { dataset = d } else { dataset = "" }
        version = MetricStat.number(root["version"]).map { Int($0) }
        selectedAlpha = MetricStat.number(root["selected_alpha"])
        if case .string(let v)? = root["selected_variant"] { selectedVariant = v } else { selectedVariant = nil }
        if case .string(let s)? = root["selection"] { selection = s } else { selection = nil }
        generator = GeneratorSummary(root["generator"])
        levers = LeversSummary(root["levers"])
        var parsed: [VariantSummary] = []
        for (name, v) in variants {
            guard case .object(let splits)? = v["splits"] else {
                throw PipelineError("metrics.json field 'variants.\(name).splits': expected an object of split name → metrics")
            }
            var summaries: [String: SplitSummary] = [:]
            for (split, s) in splits { summaries[split] = MetricsSummary.split(s) }
            parsed.append(VariantSummary(name: name, seeds: MetricStat.number(v["seeds"]).map { Int($0) }, splits: summaries))
        }
        self.variants = parsed.sorted(by: MetricsSummary.displayOrder)
    }

    /// The variant named `name`.
    public func variant(_ name: String) -> VariantSummary? { variants.first { $0.name == name } }

    /// The synthetic variant chosen on `val`: `selected_variant` when given (it may be stacked), else
    /// `synthetic_a<selected α>` (metrics.json written before `selected_variant` existed).
    public var selectedSyntheticVariant: VariantSummary? {
        if let name = selectedVariant { return variant(name) }
        guard let a = selectedAlpha else { return nil }
        return variants.first { $0.alpha != nil && $0.name != "baseline" && abs($0.alpha! - a) < 1e-9 }
    }

    private static func split(_ value: JSONValue) -> SplitSummary {
        var groups: [GroupBreakdown] = []
        if case .object(let byGroup)? = value["by_group"] {
            for attribute in byGroup.keys.sorted() {
                let entry = byGroup[attribute]!
                var values: [GroupValue] = []
                if case .object(let vs)? = entry["values"] {
                    for name in vs.keys.sorted() {
                        values.append(GroupValue(value: name, n: MetricStat(vs[name]!["n"])?.mean,
                                                 accuracy: MetricStat(vs[name]!["accuracy"])))
                    }
                }
                let missing = entry["missing_attribute"].map {
                    GroupValue(value: "", n: MetricStat($0["n"])?.mean, accuracy: MetricStat($0["accuracy"]))
                }
                groups.append(GroupBreakdown(attribute: attribute, values: values,
                                             accuracyGap: MetricStat(entry["gap"]?["accuracy"]), missing: missing))
            }
        }
        return SplitSummary(accuracy: MetricStat(value["accuracy"]), balancedAccuracy: MetricStat(value["balanced_accuracy"]),
                            highRiskSensitivity: MetricStat(value["high_risk_sensitivity"]), groups: groups)
    }

    private static func rank(_ v: VariantSummary) -> Int {
        if v.name == "baseline" { return 0 }
        if v.alpha != nil { return 1 }
        if v.name.hasPrefix("synthetic_a") { return 2 }
        return 3
    }

    static func displayOrder(_ a: VariantSummary, _ b: VariantSummary) -> Bool {
        let ra = rank(a), rb = rank(b)
        if ra != rb { return ra < rb }
        if ra == 1, a.alpha != b.alpha { return a.alpha! > b.alpha! }
        return a.name < b.name
    }
}
