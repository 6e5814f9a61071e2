import Fairness
import Foundation

/// The terminal table `fairgen demo` prints (DESIGN "Definition of done"): baseline vs. the best
/// synthetic variant vs. oversampling; accuracy, worst-group accuracy, fairness gap and high-risk
/// sensitivity (mean ± std over seeds) for the ID and OOD test splits; and, per split, the paired per-seed
/// difference of the selected synthetic variant against the baseline and against oversampling, with its
/// 95 % interval, so the demo reports honestly whether synthetic data helped (`helped` only when the
/// interval excludes 0).
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
        rows.append((best.map { "\($0.name) (selected)" } ?? "synthetic (none)", best))
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
            if let best, let s = best.splits[split.key] {
                for other in ["baseline", "oversample"] {
                    // No line without a paired worst-group value (e.g. no attribute groups).
                    if let o = m.variant(other)?.splits[split.key], case let c = SplitComparison(s, o), c.worstGroupAccuracy.n > 0 {
                        lines.append(verdict(best.name, other, c))
                    }
                }
            }
        }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
            .joined(separator: "\n") + "\n"
    }

    /// `synthetic_a0.50 − baseline: worst-group acc +0.041 [95 % CI +0.012, +0.070] over 3 seeds, gap −0.032
    /// → helped`: the verdict follows the paired interval of the worst-group difference (`PairedVerdict`).
    static func verdict(_ a: String, _ b: String, _ c: SplitComparison) -> String {
        let w = c.worstGroupAccuracy
        var text = "\(a) − \(b): worst-group acc "
        if let mean = w.mean { text += signed(mean) } else { text += "–" }
        if let lo = w.lower, let hi = w.upper {
            text += " [" + String(format: "%.0f", w.level * 100) + " % CI \(signed(lo)), \(signed(hi))]"
        }
        text += " over \(w.n) seed" + (w.n == 1 ? "" : "s")
        if w.n < 2 { text += " (no interval)" }
        if let g = c.gap.mean { text += ", gap \(signed(g))" }
        return text + " → \(c.verdict.rawValue)"
    }

    static func signed(_ x: Double) -> String { (x >= 0 ? "+" : "−") + String(format: "%.3f", abs(x)) }

    /// Left-aligns `s` in `width` characters (counting Characters, so `±` and `–` take one column).
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
