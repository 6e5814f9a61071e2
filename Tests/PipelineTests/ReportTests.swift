import Foundation
import Testing
@testable import Pipeline
import Store

/// Quality offset of each variant in the example (how much it lifts accuracy; dark skin gains twice that).
let exampleVariants: [(String, Double)] = [
    ("baseline", 0), ("synthetic_a0.75", 0.01), ("synthetic_a0.50", 0.02), ("synthetic_a0.00", -0.05),
    ("oversample", 0.004), ("focal", 0), ("heuristic", 0.01), ("synthetic_a0.50+heuristic", 0.025),
]
let darkValue = "dark <V&VI>"  // a manifest-supplied value that needs escaping

/// `{"mean","std","per_seed"}` over 3 seeds of `f(seed)`, with the Fairness module's conventions.
func stat(_ f: (Double) -> Double) -> JSONValue {
    let xs = (0..<3).map { f(Double($0) - 1) }
    let mean = xs.reduce(0, +) / 3
    let std = (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 2).squareRoot()
    return .object(["mean": .number(mean), "std": .number(std), "per_seed": .array(xs.map { .number($0) })])
}

/// A metrics.json (schema 1) shaped like the evaluate stage's output: 8 variants × 3 splits, two
/// attributes, 3 seeds.
func exampleMetricsJSON() throws -> [UInt8] {
    var variants: [String: JSONValue] = [:]
    for (name, q) in exampleVariants {
        var splits: [String: JSONValue] = [:]
        for (split, off) in [("test_id", 0.0), ("test_ood", -0.1), ("val", 0.01)] {
            let group: [String: (Double) -> Double] = [
                darkValue: { 0.60 + 2 * q + off + $0 * 0.01 },
                "medium": { 0.75 + q + off + $0 * 0.01 },
                "light": { 0.82 + q / 2 + off + $0 * 0.01 },
            ]
            let sex: [String: (Double) -> Double] = ["f": { 0.76 + q + off + $0 * 0.01 }, "m": { 0.74 + q + off + $0 * 0.01 }]
            func table(_ values: [String: (Double) -> Double], gap: @escaping (Double) -> Double) -> JSONValue {
                .object([
                    "values": .object(values.mapValues { f in .object(["n": stat { _ in 100 }, "accuracy": stat(f)]) }),
                    "gap": .object(["accuracy": stat(gap)]),
                    "ratio": .object(["accuracy": stat { _ in 0.8 }]),
                ])
            }
            splits[split] = .object([
                "n": stat { _ in 500 },
                "accuracy": stat { 0.78 + q + off + $0 * 0.01 },
                "balanced_accuracy": stat { 0.70 + q + off + $0 * 0.01 },
                "high_risk_sensitivity": stat { 0.60 + 1.5 * q + off + $0 * 0.02 },
                "auc": .object(["macro": stat { _ in 0.9 }]),
                "by_group": .object([
                    "skin_tone": table(group, gap: { _ in 0.22 - 1.5 * q }),
                    "sex": table(sex, gap: { _ in 0.02 }),
                ]),
            ])
        }
        variants[name] = .object(["seeds": .number(3), "splits": .object(splits)])
    }
    let root: JSONValue = .object([
        "schema": .number(1), "dataset": .string("derm-demo"), "version": .number(3),
        "variants": .object(variants), "selected_alpha": .number(0.5), "selection": .string("val balanced accuracy"),
    ])
    return Array(try CanonicalJSON.encode(root).utf8)
}

/// Checks that every tag we emit is closed in order (void elements must be written `<x />`), that no
/// raw `<` or `&` is left in text, and returns the tag names seen.
func checkBalanced(_ html: String) throws -> [String] {
    var stack: [String] = []
    var names: [String] = []
    var rest = Substring(html)
    while let open = rest.firstIndex(of: "<") {
        let text = rest[..<open]
        if let amp = text.range(of: "&") {
            let tail = text[amp.lowerBound...]
            #expect(["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].contains { tail.hasPrefix($0) }, "stray & in \(tail.prefix(20))")
        }
        guard let close = rest[open...].firstIndex(of: ">") else { throw PipelineError("unterminated tag") }
        let tag = rest[rest.index(after: open)..<close]
        rest = rest[rest.index(after: close)...]
        if tag.hasPrefix("!") { continue }
        if tag.hasPrefix("/") {
            let name = String(tag.dropFirst())
            guard stack.popLast() == name else { throw PipelineError("unbalanced </\(name)>, open: \(stack)") }
            continue
        }
        let name = String(tag.prefix { $0 != " " && $0 != "/" })
        #expect(name.allSatisfy { $0.isLetter || $0.isNumber }, "odd tag name \(name)")
        names.append(name)
        if !tag.hasSuffix("/") { stack.append(name) }
    }
    #expect(stack.isEmpty, "unclosed: \(stack)")
    return names
}

func count(_ needle: String, in hay: String) -> Int { hay.components(separatedBy: needle).count - 1 }

@Test func reportIsSelfContainedEscapedAndHasAllCharts() throws {
    let metrics = try MetricsSummary(json: exampleMetricsJSON())
    #expect(metrics.variants.map(\.name) == ["baseline", "synthetic_a0.75", "synthetic_a0.50", "synthetic_a0.00",
                                             "synthetic_a0.50+heuristic", "focal", "heuristic", "oversample"])
    let grids = [SampleGrid(className: "naevus <benign>", attribute: "skin_tone", value: darkValue, png: [0x89, 0x50, 0x4e, 0x47]),
                 SampleGrid(className: "melanoma", attribute: "skin_tone", value: "light", png: [1, 2, 3])]
    let html = ReportBuilder.html(metrics: metrics, grids: grids)
    // Set FAIRGEN_REPORT_OUT=/path/report.html to look at the page.
    if let out = ProcessInfo.processInfo.environment["FAIRGEN_REPORT_OUT"] { try html.write(toFile: out, atomically: true, encoding: .utf8) }

    let tags = try checkBalanced(html)
    #expect(!tags.contains("script"))
    #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("url("))
    for (name, _) in exampleVariants { #expect(html.contains("<td>\(ReportBuilder.escape(name))</td>")) }
    #expect(html.contains("naevus &lt;benign&gt;") && !html.contains("naevus <benign>"))
    #expect(html.contains("dark &lt;V&amp;VI&gt;") && !html.contains(darkValue))
    #expect(html.contains("src=\"data:image/png;base64,iVBORw==\""))
    #expect(html.contains("<tr class=\"selected\"><td>synthetic_a0.50</td>"))
    // baseline, test_id: worst group = dark (0.59, 0.60, 0.61); gap = max over attributes (0.22).
    #expect(html.contains("<td>baseline</td><td>3</td><td>0.780 ± 0.010</td><td>0.700 ± 0.010</td><td>0.600 ± 0.010</td><td>0.220 ± 0.000</td><td>0.600 ± 0.020</td>"))

    let svgs = html.components(separatedBy: "<svg ").dropFirst()
    #expect(svgs.count == 4 + 1 + 2)  // 2 splits × 2 attributes bar charts, the α sweep, 2 scatters
    let bars = svgs.map { count("class=\"bar\"", in: $0) }
    #expect(bars == [16, 24, 16, 24, 0, 0, 0])  // sex: 2 values × 8 variants; skin_tone: 3 × 8
    let points = svgs.map { count("class=\"point\"", in: $0) }
    #expect(points == [0, 0, 0, 0, 16, 8, 8])  // sweep: 4 α (1, .75, .5, 0) × 2 splits × 2 metrics
    #expect(count("class=\"sweep\"", in: String(svgs[svgs.startIndex + 4])) == 4)
    #expect(count("class=\"whisker\"", in: html) == 80)
}

@Test func metricsParsingNamesTheBadField() throws {
    #expect(throws: PipelineError.self) { try MetricsSummary(json: Array("{\"schema\": 2, \"variants\": {}}".utf8)) }
    do {
        _ = try MetricsSummary(json: Array("{\"schema\": 1, \"variants\": {\"baseline\": {\"seeds\": 1}}}".utf8))
        Issue.record("expected an error")
    } catch let e as PipelineError {
        #expect(e.message.contains("variants.baseline.splits"))
    }
    // A single evaluation (plain numbers) reads as one seed without std.
    let one = try MetricsSummary(json: Array(#"{"schema":1,"variants":{"baseline":{"splits":{"test_id":{"accuracy":0.5}}}}}"#.utf8))
    #expect(one.variants[0].splits["test_id"]?.accuracy == MetricStat(mean: 0.5, std: nil, perSeed: [0.5]))
}

