import Datasets
import Fairness
import Foundation
import Text

/// The result of an experiment (docs/experiments.md): `sweep.json` — per level, the variants exactly as in
/// that level's metrics.json (per split mean ± std per metric), the paired per-seed differences of every
/// variant against the baseline (the shape of metrics.json `comparisons`), and the plotted numbers — and
/// `sweep.html`, self-contained (inline SVG, no script): accuracy, worst-group accuracy, gap and macro AUC
/// against the level, one line per variant, error bars ± one std over seeds.
public struct SweepReport: Sendable {
    /// One finished level: its run's metrics.json bytes.
    public struct LevelInput: Sendable {
        public var level: ExperimentLevel
        public var version: Int
        public var metricsJSON: [UInt8]
        public init(level: ExperimentLevel, version: Int, metricsJSON: [UInt8]) {
            self.level = level; self.version = version; self.metricsJSON = metricsJSON
        }
    }

    /// mean ± std of one plotted number.
    public struct Point: Sendable, Equatable {
        public var mean: Double?
        public var std: Double?
    }

    /// The plotted metrics, in chart order: (json key, title).
    public static let metrics: [(key: String, title: String)] = [
        ("accuracy", "accuracy"), ("worst_group_accuracy", "worst-group accuracy"),
        ("gap", "accuracy gap (max − min)"), ("auc_macro", "macro AUC"), ("worst_group_auc", "worst-group macro AUC"),
    ]
    /// Splits plotted (val chooses α; it is not a result).
    public static let splits = ["test_id", "test_ood"]

    public let dataset: String
    public let spec: ExperimentSpec
    public let attribute: String?
    public let profile: Profile
    public let levels: [LevelInput]
    /// Variant names over all levels, in report order.
    public let variants: [String]
    /// [level index][split][variant][metric key] → point.
    public let points: [[String: [String: [String: Point]]]]
    private let parsed: [Fairness.JSONValue]
    private let summaries: [MetricsSummary]

    public init(dataset: String, spec: ExperimentSpec, attribute: String?, profile: Profile, levels: [LevelInput]) throws {
        self.dataset = dataset; self.spec = spec; self.attribute = attribute; self.profile = profile; self.levels = levels
        var parsed: [Fairness.JSONValue] = [], summaries: [MetricsSummary] = []
        for l in levels {
            parsed.append(try Self.parse(l.metricsJSON))
            summaries.append(try MetricsSummary(json: l.metricsJSON))
        }
        self.parsed = parsed; self.summaries = summaries
        var names: [String] = []
        for s in summaries { for v in s.variants where !names.contains(v.name) { names.append(v.name) } }
        variants = names
        points = zip(parsed, summaries).map { json, summary in
            var perSplit: [String: [String: [String: Point]]] = [:]
            for split in Self.splits {
                for v in summary.variants {
                    guard let s = v.splits[split] else { continue }
                    // Worst group and gap over the experiment's attribute (all attributes when it has none).
                    var focus = s
                    if let a = attribute, s.groups.contains(where: { $0.attribute == a }) { focus.groups = s.groups.filter { $0.attribute == a } }
                    let raw = json["variants"]?[v.name]?["splits"]?[split]
                    perSplit[split, default: [:]][v.name] = [
                        "accuracy": Self.point(raw?["accuracy"]),
                        "worst_group_accuracy": Point(mean: focus.worstGroupAccuracy?.mean, std: focus.worstGroupAccuracy?.std),
                        "gap": Point(mean: focus.accuracyGap?.mean, std: focus.accuracyGap?.std),
                        "auc_macro": Self.point(raw?["auc"]?["macro"]),
                        "worst_group_auc": Self.worstGroup(raw?["by_group"], attribute: attribute, metric: "auc_macro"),
                    ]
                }
            }
            return perSplit
        }
    }

    /// Per seed, the lowest `metric` over the values of `attribute` (every attribute when nil or absent),
    /// then mean and sample std over the seeds where every value is defined (MetricStat.combine's rule).
    static func worstGroup(_ byGroup: Fairness.JSONValue?, attribute: String?, metric: String) -> Point {
        guard case .object(let attributes)? = byGroup else { return Point(mean: nil, std: nil) }
        let chosen = attributes.filter { $0.key == attribute }
        var series: [[Double?]] = []
        for a in (chosen.isEmpty ? attributes : chosen) {
            guard case .object(let values)? = a.value["values"] else { continue }
            for v in values {
                let m = v.value[metric]
                if case .array(let perSeed)? = m?["per_seed"] {
                    series.append(perSeed.map(\.doubleValue))
                } else if let d = m?.doubleValue {
                    series.append([d])
                } else {
                    series.append([nil])
                }
            }
        }
        guard let seeds = series.map(\.count).min(), seeds > 0 else { return Point(mean: nil, std: nil) }
        let minima = (0..<seeds).compactMap { s -> Double? in
            let values = series.compactMap { $0[s] }
            return values.count == series.count ? values.min() : nil
        }
        guard !minima.isEmpty else { return Point(mean: nil, std: nil) }
        let mean = minima.reduce(0, +) / Double(minima.count)
        let std = minima.count > 1
            ? (minima.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(minima.count - 1)).squareRoot() : nil
        return Point(mean: mean, std: std)
    }

    static func point(_ v: Fairness.JSONValue?) -> Point {
        if let d = v?.doubleValue { return Point(mean: d, std: nil) }
        return Point(mean: v?["mean"]?.doubleValue, std: v?["std"]?.doubleValue)
    }

    /// JSON text → ordered tree (object keys sorted, so the output never depends on the parser's order).
    static func parse(_ bytes: [UInt8]) throws -> Fairness.JSONValue {
        let value: StoreJSON
        do { value = try parseStoreJSON(bytes) } catch {
            throw PipelineError("metrics.json: not valid JSON (\(error))")
        }
        func convert(_ v: StoreJSON) -> Fairness.JSONValue {
            switch v {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .number(let d): return .number(d)
            case .string(let s): return .string(s)
            case .array(let a): return .array(a.map(convert))
            case .object(let o): return .object(o.keys.sorted().map { JSONMember($0, convert(o[$0]!)) })
            }
        }
        return convert(value)
    }

    // MARK: - sweep.json

    public var json: String {
        var levelValues: [Fairness.JSONValue] = []
        for (i, l) in levels.enumerated() {
            var comparisons: [JSONMember] = []
            let summary = summaries[i]
            for split in Self.splits {
                guard let base = summary.variant("baseline")?.splits[split] else { continue }
                var pairs: [JSONMember] = []
                for v in summary.variants where v.name != "baseline" {
                    guard let s = v.splits[split] else { continue }
                    pairs.append(JSONMember("\(v.name)-baseline", SplitComparison(s, base).json))
                }
                comparisons.append(JSONMember(split, .object(pairs)))
            }
            var plotted: [JSONMember] = []
            for split in Self.splits {
                guard let perVariant = points[i][split] else { continue }
                plotted.append(JSONMember(split, .object(variants.compactMap { name in
                    perVariant[name].map { p in
                        JSONMember(name, .object(Self.metrics.map { m in
                            JSONMember(m.key, .fields(["mean": .number(p[m.key]?.mean), "std": .number(p[m.key]?.std)]))
                        }))
                    }
                })))
            }
            levelValues.append(.fields([
                "level": .number(l.level.value),
                "label": .string(l.level.label),
                "version": .int(l.version),
                "selected_variant": summary.selectedVariant.map { Fairness.JSONValue.string($0) } ?? .null,
                "variants": parsed[i]["variants"] ?? .object([]),
                "comparisons": .object(comparisons),
                "plotted": .object(plotted),
            ]))
        }
        let root: Fairness.JSONValue = .fields([
            "schema": .int(1),
            "experiment": .string(spec.id),
            "kind": .string(spec.kind.rawValue),
            "dataset": .string(dataset),
            "attribute": attribute.map { Fairness.JSONValue.string($0) } ?? .null,
            "profile": .string(profile.rawValue),
            "level_meaning": .string(Self.levelMeaning(spec.kind)),
            "levels": .array(levelValues),
        ])
        return root.serialized(indent: 2) + "\n"
    }

    static func levelMeaning(_ kind: ExperimentSpec.Kind) -> String {
        switch kind {
        case .skew: return "fraction of the minority value's training rows removed"
        case .labelEfficiency: return "fraction of training rows labeled"
        case .ratio: return "synthetic images per real training image"
        case .translation: return "fraction of the minority's rows kept (scenario)"
        }
    }

    // MARK: - sweep.html

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    public var html: String {
        let h = UntrustedText.html
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>fairgen experiment \(h(spec.id)) — \(h(dataset))</title>
            <style>body{font-family:sans-serif;margin:20px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:24px}
            .grid{display:flex;flex-wrap:wrap;gap:8px}table{border-collapse:collapse;font-size:12px}
            td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}td.l{text-align:left}
            .legend span{display:inline-block;margin-right:14px;font-size:13px}.sw{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:4px}</style>
            </head><body>
            <h1>Experiment \(h(spec.id)): \(h(spec.kind.rawValue)) on \(h(dataset))</h1>
            <p>x axis: \(h(Self.levelMeaning(spec.kind)))\(attribute.map { " (attribute " + h($0) + ")" } ?? ""); profile \(h(profile.rawValue)); \
            error bars ± 1 std over classifier seeds; worst group and gap over \(h(attribute ?? "every attribute")).</p>

            """
        out += "<p class=\"legend\">" + variants.enumerated().map { i, v in
            "<span><i class=\"sw\" style=\"background:\(Self.palette[i % Self.palette.count])\"></i>\(h(v))</span>"
        }.joined() + "</p>\n"
        for split in Self.splits where points.contains(where: { $0[split] != nil }) {
            out += "<h2>\(h(split))</h2>\n<div class=\"grid\">\n"
            for m in Self.metrics { out += chart(split: split, metric: m.key, title: m.title) }
            out += "</div>\n"
        }
        out += "<h2>Numbers (mean ± std)</h2>\n" + table()
        out += "</body></html>\n"
        return out
    }

    func chart(split: String, metric: String, title: String) -> String {
        let w = 300.0, hgt = 220.0, left = 46.0, right = 12.0, top = 24.0, bottom = 36.0
        let xs = levels.indices.map { levels[$0].level.value }
        // Translation scenarios are categories; every other kind is a number line.
        let categorical = spec.kind == .translation || Set(xs).count < xs.count
        var lo = Double.infinity, hi = -Double.infinity
        for i in levels.indices {
            for v in variants {
                guard let p = points[i][split]?[v]?[metric], let m = p.mean else { continue }
                lo = min(lo, m - (p.std ?? 0)); hi = max(hi, m + (p.std ?? 0))
            }
        }
        if !lo.isFinite { lo = 0; hi = 1 }
        if hi - lo < 0.02 { lo -= 0.01; hi += 0.01 }
        let pad = (hi - lo) * 0.08
        // Every plotted metric lies in [0, 1]: the axis stays there and error bars are cut at its ends.
        lo = max(0, lo - pad); hi = min(1, hi + pad)
        if hi <= lo { lo = max(0, hi - 0.02); hi = lo + 0.02 }
        let xMin = xs.min() ?? 0, xMax = xs.max() ?? 1
        func x(_ i: Int) -> Double {
            if categorical || xMax == xMin { return left + (w - left - right) * (Double(i) + 0.5) / Double(max(1, levels.count)) }
            return left + (w - left - right) * (xs[i] - xMin) / (xMax - xMin)
        }
        func y(_ v: Double) -> Double { top + (hgt - top - bottom) * (1 - (v - lo) / (hi - lo)) }
        let f = { (v: Double) in String(format: "%.1f", v) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" role=\"img\" aria-label=\"\(UntrustedText.html(title))\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        svg += "<text x=\"\(f(w / 2))\" y=\"15\" font-size=\"12\" text-anchor=\"middle\">\(UntrustedText.html(title))</text>"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(hgt - bottom))\" x2=\"\(f(w - right))\" y2=\"\(f(hgt - bottom))\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(hgt - bottom))\" stroke=\"#444\"/>"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            svg += "<line x1=\"\(f(left - 3))\" y1=\"\(f(y(v)))\" x2=\"\(f(w - right))\" y2=\"\(f(y(v)))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(f(left - 5))\" y=\"\(f(y(v) + 3))\" font-size=\"9\" text-anchor=\"end\">\(String(format: "%.3f", v))</text>"
        }
        for i in levels.indices {
            svg += "<text x=\"\(f(x(i)))\" y=\"\(f(hgt - bottom + 13))\" font-size=\"9\" text-anchor=\"middle\">\(UntrustedText.html(levels[i].level.label))</text>"
        }
        svg += "<text x=\"\(f((left + w - right) / 2))\" y=\"\(f(hgt - 6))\" font-size=\"9\" text-anchor=\"middle\">\(UntrustedText.html(Self.levelMeaning(spec.kind)))</text>"
        for (vi, v) in variants.enumerated() {
            let color = Self.palette[vi % Self.palette.count]
            // A small sideways offset per variant keeps overlapping error bars apart.
            let dx = (Double(vi) - Double(variants.count - 1) / 2) * 3
            var path: [String] = []
            for i in levels.indices {
                guard let p = points[i][split]?[v]?[metric], let m = p.mean else { continue }
                let px = x(i) + dx
                path.append("\(f(px)),\(f(y(m)))")
                if let s = p.std, s > 0 {
                    let low = max(lo, m - s), high = min(hi, m + s)
                    svg += "<line x1=\"\(f(px))\" y1=\"\(f(y(low)))\" x2=\"\(f(px))\" y2=\"\(f(y(high)))\" stroke=\"\(color)\"/>"
                    svg += "<line x1=\"\(f(px - 3))\" y1=\"\(f(y(low)))\" x2=\"\(f(px + 3))\" y2=\"\(f(y(low)))\" stroke=\"\(color)\"/>"
                    svg += "<line x1=\"\(f(px - 3))\" y1=\"\(f(y(high)))\" x2=\"\(f(px + 3))\" y2=\"\(f(y(high)))\" stroke=\"\(color)\"/>"
                }
                svg += "<circle cx=\"\(f(px))\" cy=\"\(f(y(m)))\" r=\"2.5\" fill=\"\(color)\"/>"
            }
            if path.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(path.joined(separator: " "))\"/>"
            }
        }
        return svg + "</svg>\n"
    }

    func table() -> String {
        let h = UntrustedText.html
        var out = "<table><tr><th>level</th><th>split</th><th>variant</th>" + Self.metrics.map { "<th>\(h($0.title))</th>" }.joined() + "</tr>\n"
        for (i, l) in levels.enumerated() {
            for split in Self.splits {
                for v in variants {
                    guard let p = points[i][split]?[v] else { continue }
                    out += "<tr><td class=\"l\">\(h(l.level.label))</td><td class=\"l\">\(h(split))</td><td class=\"l\">\(h(v))</td>"
                    out += Self.metrics.map { "<td>\(Self.format(p[$0.key]))</td>" }.joined() + "</tr>\n"
                }
            }
        }
        return out + "</table>\n"
    }

    static func format(_ p: Point?) -> String {
        guard let m = p?.mean else { return "–" }
        return String(format: "%.3f", m) + (p?.std.map { String(format: " ± %.3f", $0) } ?? "")
    }

    /// The numbers table as Markdown (docs/experiments.md quotes it).
    public var markdown: String {
        var lines = ["| level | split | variant | " + Self.metrics.map(\.title).joined(separator: " | ") + " |",
                     "|---|---|---|" + Self.metrics.map { _ in "---|" }.joined()]
        for (i, l) in levels.enumerated() {
            for split in Self.splits {
                for v in variants {
                    guard let p = points[i][split]?[v] else { continue }
                    lines.append("| \(l.level.label) | \(split) | \(UntrustedText.terminal(v)) | "
                                 + Self.metrics.map { Self.format(p[$0.key]) }.joined(separator: " | ") + " |")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
