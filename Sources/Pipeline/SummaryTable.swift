import Foundation

/// The terminal table `fairgen demo` prints (DESIGN "Definition of done"): baseline vs. the best
/// synthetic variant vs. oversampling; accuracy, worst-group accuracy, fairness gap and high-risk
/// sensitivity (mean ± std over seeds) for the ID and OOD test splits; and one line per split saying
/// how the synthetic variant changed worst-group accuracy and the gap relative to the baseline, so the
/// demo reports honestly whether synthetic data helped.
public enum SummaryTable {
    /// The columns, in order: heading and how to get the value from a split.
    static let columns: [(String, @Sendable (SplitSummary) -> MetricStat?)] = [
        ("accuracy", { $0.accuracy }),
        ("worst-group acc", { $0.worstGroupAccuracy }),
        ("gap", { $0.accuracyGap }),
        ("high-risk sens", { $0.highRiskSensitivity }),
    ]
    static let cellWidth = 17

    /// The best synthetic variant: the one at the selected α (chosen on `val`); without a selected α,
    /// the synthetic variant with the highest `val` balanced accuracy; never chosen on a test split.
    public static func bestSynthetic(_ m: MetricsSummary) -> VariantSummary? {
        if let v = m.selectedSyntheticVariant { return v }
        let candidates = m.variants.filter { $0.name.hasPrefix("synthetic_a") }
        return candidates.max { a, b in
            (a.splits["val"]?.balancedAccuracy?.mean ?? -1, b.name) < (b.splits["val"]?.balancedAccuracy?.mean ?? -1, a.name)
        }.flatMap { $0.splits["val"]?.balancedAccuracy?.mean == nil ? nil : $0 }
    }

    /// The table as lines joined with `\n` (ending with a newline). Missing variants or values show `–`.
    public static func render(_ m: MetricsSummary) -> String {
        let best = bestSynthetic(m)
        var rows: [(label: String, variant: VariantSummary?)] = [("baseline", m.variant("baseline"))]
        rows.append((best.map { "\($0.name) (best)" } ?? "synthetic (none)", best))
        rows.append(("oversample", m.variant("oversample")))
        let labelWidth = max(rows.map(\.label.count).max() ?? 0, 8) + 2

        var lines: [String] = []
        var header = "fairgen summary: \(m.dataset)" + (m.version.map { " v\($0)" } ?? "")
        if let a = m.selectedAlpha { header += " (selected α = " + String(format: "%.2f", a) + " on \(m.selection ?? "val"))" }
        lines.append(header)
        for split in ReportBuilder.splits {
            lines.append("")
            lines.append(split.title)
            lines.append(pad("variant", labelWidth) + columns.map { pad($0.0, cellWidth) }.joined())
            lines.append(String(repeating: "-", count: labelWidth + cellWidth * columns.count - 2))
            for row in rows {
                let s = row.variant?.splits[split.key]
                lines.append(pad(row.label, labelWidth)
                    + columns.map { pad(ReportBuilder.meanStd(s.flatMap($0.1)), cellWidth) }.joined())
            }
            if let verdict = verdict(baseline: m.variant("baseline")?.splits[split.key], synthetic: best?.splits[split.key]) {
                lines.append(verdict)
            }
        }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
            .joined(separator: "\n") + "\n"
    }

    /// `synthetic vs baseline: worst-group acc +0.041, gap −0.032 → helped` (or `did not help`, `mixed`).
    static func verdict(baseline: SplitSummary?, synthetic: SplitSummary?) -> String? {
        guard let b = baseline, let s = synthetic,
              let bw = b.worstGroupAccuracy?.mean, let sw = s.worstGroupAccuracy?.mean,
              let bg = b.accuracyGap?.mean, let sg = s.accuracyGap?.mean else { return nil }
        let dw = sw - bw, dg = sg - bg
        let outcome: String
        if dw > 0 && dg <= 0 { outcome = "helped" }
        else if dw <= 0 && dg >= 0 { outcome = "did not help" }
        else { outcome = "mixed" }
        return "synthetic vs baseline: worst-group acc \(signed(dw)), gap \(signed(dg)) → \(outcome)"
    }

    static func signed(_ x: Double) -> String { (x >= 0 ? "+" : "−") + String(format: "%.3f", abs(x)) }

    /// Left-aligns `s` in `width` characters (counting Characters, so `±` and `–` take one column).
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
