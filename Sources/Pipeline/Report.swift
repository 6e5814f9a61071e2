import Foundation
import Text

/// One sample grid image for the report: a PNG of generated samples of one class × attribute value.
public struct SampleGrid: Sendable {
    public var className: String
    public var attribute: String
    public var value: String
    public var png: [UInt8]
    public init(className: String, attribute: String, value: String, png: [UInt8]) {
        self.className = className
        self.attribute = attribute
        self.value = value
        self.png = png
    }
}

/// Builds `report.html`: one self-contained page (inline SVG charts, base64 PNG images, a small
/// inline style sheet; no scripts, no network) from metrics.json. Sections:
/// per-variant tables per split, per-group accuracy bar charts per split × attribute, the α sweep,
/// an accuracy-vs-gap scatter per split, and sample grids. All text from the data (dataset, variant,
/// attribute, value and class names) is escaped. docs/pipeline.md describes the page.
public enum ReportBuilder {
    /// The splits shown, in order, with their headings.
    public static let splits: [(key: String, title: String)] = [("test_id", "In-distribution (test_id)"),
                                                                ("test_ood", "Out-of-distribution (test_ood)")]

    /// The page as UTF-8 text.
    public static func html(metrics: MetricsSummary, grids: [SampleGrid] = []) -> String {
        var page = HTMLWriter()
        let title = "fairgen report: \(metrics.dataset)" + (metrics.version.map { " v\($0)" } ?? "")
        page.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n")
        page.raw("<title>\(escape(title))</title>\n<style>\(style)</style>\n</head>\n<body>\n")
        page.raw("<h1>\(escape(title))</h1>\n<p>")
        if let a = metrics.selectedAlpha {
            page.raw("Selected α = \(fmt(a, 2)) (chosen on \(escape(metrics.selection ?? "val"))). ")
        }
        page.raw("Values are mean ± sample std over training seeds; the highlighted row is the selected synthetic variant.</p>\n")

        for split in splits { table(&page, metrics, split: split.key, title: split.title) }
        if let g = metrics.generator { generatorTable(&page, g) }
        if let l = metrics.levers { leversTable(&page, l) }
        page.raw("<h2>Accuracy by group</h2>\n")
        for split in splits { groupCharts(&page, metrics, split: split.key, title: split.title) }
        page.raw("<h2>α sweep</h2>\n")
        page.raw(alphaSweepSVG(metrics))
        page.raw("<h2>Accuracy vs. fairness gap</h2>\n")
        for split in splits { page.raw(scatterSVG(metrics, split: split.key, title: split.title)) }
        if !grids.isEmpty { sampleGrids(&page, grids) }
        page.raw("</body>\n</html>\n")
        return page.text
    }

    // MARK: tables

    static func table(_ page: inout HTMLWriter, _ m: MetricsSummary, split: String, title: String) {
        page.raw("<h2>\(escape(title))</h2>\n<table>\n<tr><th>variant</th><th>seeds</th><th>accuracy</th>"
            + "<th>balanced accuracy</th><th>worst-group accuracy</th><th>gap</th><th>high-risk sensitivity</th></tr>\n")
        let selected = m.selectedSyntheticVariant?.name
        for v in m.variants {
            guard let s = v.splits[split] else { continue }
            page.raw(v.name == selected ? "<tr class=\"selected\">" : "<tr>")
            page.raw("<td>\(escape(v.name))</td><td>\(v.seeds.map(String.init) ?? "–")</td>")
            for stat in [s.accuracy, s.balancedAccuracy, s.worstGroupAccuracy, s.accuracyGap, s.highRiskSensitivity] {
                page.raw("<td>\(escape(meanStd(stat)))</td>")
            }
            page.raw("</tr>\n")
        }
        page.raw("</table>\n")
    }

    /// The generator diagnostics: where the synthetic images are recognisable, far from the real ones, or copies.
    static func generatorTable(_ page: inout HTMLWriter, _ g: GeneratorSummary) {
        page.raw("<h2>Generator diagnostics</h2>\n<p>An auditor (the baseline classifier, trained on real data only) "
            + "classifies the synthetic images. <b>Fidelity</b>: share recognised as the class they were conditioned on, "
            + "beside the auditor's accuracy on real validation images of the same cell (what a perfect generator "
            + "would score). <b>MMD²</b>: real training vs synthetic images of the cell in the auditor's features "
            + "(0 = indistinguishable). <b>Memorised</b>: share of samples closer to a training image than half the "
            + "class's typical real-to-real distance.</p>\n<table>\n<tr><th>class</th><th>"
            + escape(g.attribute ?? "attribute") + "</th><th>synthetic</th><th>fidelity</th><th>val</th>"
            + "<th>auditor val accuracy</th><th>MMD²</th><th>memorised</th></tr>\n")
        func cell(_ x: Double?, _ digits: Int = 3) -> String { "<td>" + (x.map { fmt($0, digits) } ?? "–") + "</td>" }
        let rows = g.cells + g.groups + (g.overall.map { [$0] } ?? [])
        for r in rows {
            let isTotal = r.className == nil
            page.raw(isTotal ? "<tr class=\"total\">" : "<tr>")
            page.raw("<td>\(escape(r.className ?? "all classes"))</td><td>\(escape(r.value ?? "all"))</td><td>\(r.stats.synthetic)</td>")
            let e = r.stats
            page.raw(cell(e.fidelity) + "<td>\(e.validation)</td>" + cell(e.auditorValidationAccuracy) + cell(e.mmd, 4)
                + cell(e.memorised) + "</tr>\n")
        }
        page.raw("</table>\n")
    }

    /// The sampling levers: what fair-sample used, and the val pilot's score for each candidate.
    static func leversTable(_ page: inout HTMLWriter, _ l: LeversSummary) {
        page.raw("<h2>Sampling levers</h2>\n<p>Guidance weight <b>" + fmt(l.guidance, 2) + "</b>, confidence filter <b>"
            + fmt(l.minConfidence, 2) + "</b> (" + String(l.redrawn) + " images redrawn). " + escape(LeverPilot.rule) + ".</p>\n")
        guard !l.candidates.isEmpty else { return }
        page.raw("<table>\n<tr><th>guidance</th><th>min confidence</th><th>pilot images kept</th><th>mean MMD² to val</th></tr>\n")
        for c in l.candidates {
            let chosen = c.guidance == l.guidance && c.minConfidence == l.minConfidence
            page.raw((chosen ? "<tr class=\"selected\">" : "<tr>") + "<td>" + fmt(c.guidance, 2) + "</td><td>" + fmt(c.minConfidence, 2)
                + "</td><td>\(c.kept) / \(c.drawn)</td><td>" + (c.score.map { fmt($0, 3) } ?? "– (a cell emptied)") + "</td></tr>\n")
        }
        page.raw("</table>\n")
    }

    /// `0.812 ± 0.011`, `0.812` without a std, `–` when undefined.
    public static func meanStd(_ stat: MetricStat?, digits: Int = 3) -> String {
        guard let mean = stat?.mean else { return "–" }
        guard let std = stat?.std else { return fmt(mean, digits) }
        return fmt(mean, digits) + " ± " + fmt(std, digits)
    }

    static func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    // MARK: charts

    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
    static let chartWidth = 720.0, chartHeight = 260.0, left = 48.0, right = 210.0, top = 24.0, bottom = 40.0

    /// One grouped bar chart per attribute of `split`: a cluster per attribute value, one bar per variant
    /// (mean accuracy; a whisker for ± std).
    static func groupCharts(_ page: inout HTMLWriter, _ m: MetricsSummary, split: String, title: String) {
        let variants = m.variants.filter { $0.splits[split] != nil }
        let attributes = Array(Set(variants.flatMap { $0.splits[split]!.groups.map(\.attribute) })).sorted()
        for attribute in attributes {
            let values = Array(Set(variants.flatMap { v in
                v.splits[split]!.groups.filter { $0.attribute == attribute }.flatMap { $0.values.map(\.value) }
            })).sorted()
            var svg = SVG(title: "\(title): accuracy by \(attribute)")
            svg.axes(yLabel: "accuracy")
            let plotW = chartWidth - left - right, plotH = chartHeight - top - bottom
            let clusterW = plotW / Double(max(values.count, 1))
            let barW = clusterW * 0.8 / Double(max(variants.count, 1))
            for (i, value) in values.enumerated() {
                let x0 = left + Double(i) * clusterW + clusterW * 0.1
                svg.text(x: x0 + clusterW * 0.4, y: chartHeight - bottom + 16, value, anchor: "middle")
                for (j, v) in variants.enumerated() {
                    let group = v.splits[split]!.groups.first { $0.attribute == attribute }?.values.first { $0.value == value }
                    guard let stat = group?.accuracy, let mean = stat.mean else { continue }
                    let h = plotH * min(max(mean, 0), 1)
                    let x = x0 + Double(j) * barW
                    svg.element("<rect class=\"bar\" x=\"\(fmt(x, 1))\" y=\"\(fmt(top + plotH - h, 1))\" width=\"\(fmt(barW * 0.9, 1))\" height=\"\(fmt(h, 1))\" fill=\"\(palette[j % palette.count])\"><title>\(escape("\(v.name), \(attribute)=\(value): \(meanStd(stat))"))</title></rect>")
                    if let std = stat.std {
                        let cx = x + barW * 0.45
                        let y1 = top + plotH * (1 - min(max(mean - std, 0), 1)), y2 = top + plotH * (1 - min(max(mean + std, 0), 1))
                        svg.element("<line class=\"whisker\" x1=\"\(fmt(cx, 1))\" y1=\"\(fmt(y1, 1))\" x2=\"\(fmt(cx, 1))\" y2=\"\(fmt(y2, 1))\" />")
                    }
                }
            }
            svg.legend(variants.map(\.name))
            page.raw(svg.finish())
            // Rows without a value are no bar and no part of the gap; say how many there were.
            let missing = variants.compactMap { v in
                v.splits[split]!.groups.first { $0.attribute == attribute }?.missing.map { (v.name, $0) }
            }
            if !missing.isEmpty {
                let parts = missing.map { "\($0.0): n = \($0.1.n.map { String(Int($0)) } ?? "–"), accuracy \(meanStd($0.1.accuracy))" }
                page.raw("<p>Rows with no \(escape(attribute)) value (excluded from the groups and the gap): "
                    + escape(parts.joined(separator: "; ")) + ".</p>\n")
            }
        }
    }

    /// Metric vs α for the plain mixing variants (baseline = α 1): balanced accuracy and worst-group
    /// accuracy, for each split; one polyline and one point per α per series.
    static func alphaSweepSVG(_ m: MetricsSummary) -> String {
        let sweep = m.variants.filter { $0.alpha != nil }.sorted { $0.alpha! < $1.alpha! }
        var svg = SVG(title: "metric vs α (α = fraction of real data; 1 = baseline)")
        svg.axes(yLabel: "metric", xLabel: "α")
        var series: [String] = []
        for split in splits {
            let metrics: [(String, (SplitSummary) -> MetricStat?)] = [("balanced accuracy", { $0.balancedAccuracy }),
                                                                      ("worst-group accuracy", { $0.worstGroupAccuracy })]
            for (metricName, pick) in metrics {
                let points: [(Double, Double)] = sweep.compactMap { v in
                    guard let s = v.splits[split.key], let mean = pick(s)?.mean else { return nil }
                    return (v.alpha!, mean)
                }
                guard !points.isEmpty else { continue }
                let color = palette[series.count % palette.count]
                series.append("\(split.key) \(metricName)")
                let coords = points.map { "\(fmt(svg.x($0.0), 1)),\(fmt(svg.y($0.1), 1))" }
                svg.element("<polyline class=\"sweep\" points=\"\(coords.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" />")
                for p in points {
                    svg.element("<circle class=\"point\" cx=\"\(fmt(svg.x(p.0), 1))\" cy=\"\(fmt(svg.y(p.1), 1))\" r=\"3.5\" fill=\"\(color)\"><title>\(escape("\(split.key) \(metricName) at α=\(fmt(p.0, 2)): \(fmt(p.1, 3))"))</title></circle>")
                }
            }
        }
        for a in [0.0, 0.25, 0.5, 0.75, 1.0] {
            svg.text(x: svg.x(a), y: chartHeight - bottom + 16, fmt(a, 2), anchor: "middle")
        }
        svg.legend(series)
        return svg.finish()
    }

    /// Accuracy (y) vs. accuracy gap (x), one labelled point per variant, for one split.
    static func scatterSVG(_ m: MetricsSummary, split: String, title: String) -> String {
        let points: [(String, Double, Double)] = m.variants.compactMap { v in
            guard let s = v.splits[split], let acc = s.accuracy?.mean, let gap = s.accuracyGap?.mean else { return nil }
            return (v.name, gap, acc)
        }
        var svg = SVG(title: "\(title): accuracy vs. gap (up and left is better)")
        let maxGap = max(points.map { $0.1 }.max() ?? 0, 0.05) * 1.15
        svg.axes(yLabel: "accuracy", xLabel: "gap (max − min group accuracy)")
        for (i, p) in points.enumerated() {
            let x = svg.x(p.1 / maxGap), y = svg.y(p.2)
            let color = palette[i % palette.count]
            svg.element("<circle class=\"point\" cx=\"\(fmt(x, 1))\" cy=\"\(fmt(y, 1))\" r=\"4\" fill=\"\(color)\"><title>\(escape("\(p.0): accuracy \(fmt(p.2, 3)), gap \(fmt(p.1, 3))"))</title></circle>")
        }
        for k in 0...4 {
            let g = maxGap * Double(k) / 4
            svg.text(x: svg.x(g / maxGap), y: chartHeight - bottom + 16, fmt(g, 2), anchor: "middle")
        }
        svg.legend(points.map { $0.0 })
        return svg.finish()
    }

    // MARK: samples

    static func sampleGrids(_ page: inout HTMLWriter, _ grids: [SampleGrid]) {
        page.raw("<h2>Synthetic samples</h2>\n<p>One row per attribute value: real training images of the cell on the "
            + "left, synthetic samples conditioned on it right of the gap.</p>\n<div class=\"grids\">\n")
        for g in grids {
            let caption = "\(g.className) · \(g.attribute) = \(g.value)"
            page.raw("<figure><img alt=\"\(escape(caption))\" src=\"data:image/png;base64,\(Data(g.png).base64EncodedString())\" />"
                + "<figcaption>\(escape(caption))</figcaption></figure>\n")
        }
        page.raw("</div>\n")
    }

    // MARK: text

    /// Text for HTML text and attribute values (`UntrustedText.html`: entities for `& < > " '`,
    /// visible escapes for controls and bidi overrides).
    public static func escape(_ text: String) -> String { UntrustedText.html(text) }

    static let style = """
    body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:1.5em}\
    td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
    tr.selected{background:#eef6ee;font-weight:bold}svg{display:block;margin:1em 0}\
    .whisker{stroke:#333}.axis{stroke:#555}.grids{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0 0 1.5em 0}\
    figure img{image-rendering:pixelated;width:800px;max-width:100%}figcaption{font-size:small}tr.total{background:#f4f4f4}
    """
}

/// Accumulates page text.
struct HTMLWriter {
    var text = ""
    mutating func raw(_ s: String) { text += s }
}

/// A fixed-size chart with a [0, 1] × [0, 1] data area mapped into the plot rectangle.
struct SVG {
    private var body = ""
    private let title: String
    typealias R = ReportBuilder

    init(title: String) { self.title = title }

    func x(_ u: Double) -> Double { R.left + (R.chartWidth - R.left - R.right) * min(max(u, 0), 1) }
    func y(_ v: Double) -> Double { R.top + (R.chartHeight - R.top - R.bottom) * (1 - min(max(v, 0), 1)) }

    mutating func element(_ s: String) { body += s + "\n" }

    mutating func text(x: Double, y: Double, _ s: String, anchor: String = "start") {
        element("<text x=\"\(R.fmt(x, 1))\" y=\"\(R.fmt(y, 1))\" font-size=\"11\" text-anchor=\"\(anchor)\">\(R.escape(s))</text>")
    }

    /// Both axes with y ticks at 0, 0.25, …, 1.
    mutating func axes(yLabel: String, xLabel: String? = nil) {
        let x0 = x(0), x1 = x(1), y0 = y(0), y1 = y(1)
        element("<line class=\"axis\" x1=\"\(R.fmt(x0, 1))\" y1=\"\(R.fmt(y0, 1))\" x2=\"\(R.fmt(x1, 1))\" y2=\"\(R.fmt(y0, 1))\" />")
        element("<line class=\"axis\" x1=\"\(R.fmt(x0, 1))\" y1=\"\(R.fmt(y0, 1))\" x2=\"\(R.fmt(x0, 1))\" y2=\"\(R.fmt(y1, 1))\" />")
        for k in 0...4 {
            let v = Double(k) / 4
            text(x: x0 - 6, y: y(v) + 4, R.fmt(v, 2), anchor: "end")
        }
        text(x: 4, y: R.top - 8, yLabel)
        if let xLabel { text(x: (x0 + x1) / 2, y: R.chartHeight - 6, xLabel, anchor: "middle") }
    }

    mutating func legend(_ names: [String]) {
        for (i, name) in names.enumerated() {
            let yy = R.top + Double(i) * 16
            element("<rect class=\"key\" x=\"\(R.fmt(R.chartWidth - R.right + 12, 1))\" y=\"\(R.fmt(yy, 1))\" width=\"10\" height=\"10\" fill=\"\(R.palette[i % R.palette.count])\" />")
            text(x: R.chartWidth - R.right + 26, y: yy + 9, name)
        }
    }

    func finish() -> String {
        "<figure><svg width=\"\(Int(R.chartWidth))\" height=\"\(Int(R.chartHeight))\" viewBox=\"0 0 \(Int(R.chartWidth)) \(Int(R.chartHeight))\" role=\"img\">\n"
            + "<title>\(R.escape(title))</title>\n" + body + "</svg><figcaption>\(R.escape(title))</figcaption></figure>\n"
    }
}
