import Foundation
import Testing
import Datasets
import Fairness
@testable import Pipeline

/// A metrics.json with `val` (and `test_id`) per variant: accuracy, balanced accuracy and two groups of one
/// attribute, each as per-seed values over 3 seeds.
private func metrics(_ variants: [(name: String, acc: [Double], balanced: [Double], groups: [[Double]])]) throws -> MetricsSummary {
    func stat(_ xs: [Double]) -> String {
        let mean = xs.reduce(0, +) / Double(xs.count)
        return #"{"mean":\#(mean),"std":0.01,"per_seed":[\#(xs.map { "\($0)" }.joined(separator: ","))]}"#
    }
    var entries: [String] = []
    for v in variants {
        let groups = v.groups.enumerated().map { #""g\#($0.offset)":{"n":{"mean":50,"std":0,"per_seed":[50,50,50]},"accuracy":\#(stat($0.element))}"# }
        let split = #"{"accuracy":\#(stat(v.acc)),"balanced_accuracy":\#(stat(v.balanced)),"by_group":{"tone":{"values":{\#(groups.joined(separator: ","))},"gap":{"accuracy":\#(stat([0.1, 0.1, 0.1]))}}}}"#
        entries.append(#""\#(v.name)":{"seeds":3,"splits":{"val":\#(split),"test_id":\#(split)}}"#)
    }
    let json = #"{"schema":1,"dataset":"x","variants":{\#(entries.joined(separator: ","))}}"#
    return try MetricsSummary(json: Array(json.utf8))
}

@Test func worstGroupSelectionSkipsVariantsThatCostAccuracy() throws {
    let m = try metrics([
        ("baseline", [0.80, 0.80, 0.80], [0.70, 0.70, 0.70], [[0.50, 0.50, 0.50], [0.90, 0.90, 0.90]]),
        // Within 0.01 of the baseline's val accuracy, better worst group: the default picks this one.
        ("synthetic_a0.50", [0.795, 0.795, 0.795], [0.72, 0.72, 0.72], [[0.60, 0.60, 0.60], [0.90, 0.90, 0.90]]),
        // Best worst group and best balanced accuracy, but 0.10 less accurate: not eligible by default.
        ("synthetic_a0.25", [0.70, 0.70, 0.70], [0.75, 0.75, 0.75], [[0.70, 0.70, 0.70], [0.71, 0.71, 0.71]]),
    ])
    let byWorst = EvaluateStage.select(m, rule: .worstGroup)
    #expect(byWorst.alpha == 0.5)
    #expect(byWorst.description.hasPrefix("val worst-group accuracy among synthetic variants within 0.01"))
    #expect(EvaluateStage.select(m, rule: .balancedAccuracy)
        == .init(alpha: 0.25, description: "val balanced accuracy", variant: "synthetic_a0.25"))
}

@Test func worstGroupSelectionSaysWhenNoVariantQualifies() throws {
    let m = try metrics([
        ("baseline", [0.90, 0.90, 0.90], [0.80, 0.80, 0.80], [[0.5, 0.5, 0.5], [0.9, 0.9, 0.9]]),
        ("synthetic_a0.50", [0.85, 0.85, 0.85], [0.80, 0.80, 0.80], [[0.8, 0.8, 0.8], [0.9, 0.9, 0.9]]),
        ("synthetic_a0.25", [0.87, 0.87, 0.87], [0.80, 0.80, 0.80], [[0.6, 0.6, 0.6], [0.9, 0.9, 0.9]]),
    ])
    let s = EvaluateStage.select(m, rule: .worstGroup)
    #expect(s.alpha == 0.25)  // the most accurate, not the best worst group
    #expect(s.description.hasSuffix("(none qualified: best val accuracy)"))
}

@Test func comparisonsArePairedPerSeedWithIntervalsAndVerdicts() throws {
    let m = try metrics([
        ("baseline", [0.80, 0.81, 0.79], [0.7, 0.7, 0.7], [[0.50, 0.52, 0.48], [0.9, 0.9, 0.9]]),
        // +0.05 on every seed → interval above 0.
        ("synthetic_a0.50", [0.80, 0.81, 0.79], [0.7, 0.7, 0.7], [[0.55, 0.571, 0.53], [0.9, 0.9, 0.9]]),
        // Oversampling: better on two seeds, much worse on one → spans 0.
        ("oversample", [0.80, 0.81, 0.79], [0.7, 0.7, 0.7], [[0.40, 0.56, 0.54], [0.9, 0.9, 0.9]]),
    ])
    let json = EvaluateStage.comparisons(m, selected: "synthetic_a0.50", splits: [.val, .testID])
    #expect(json["val"] == nil)  // never compared on the split that chose the variant
    let vsBase = try #require(json["test_id"]?["synthetic_a0.50-baseline"])
    #expect(vsBase["verdict"]?.serialized(indent: nil) == #""helped""#)
    let w = try #require(vsBase["worst_group_accuracy"])
    #expect(w["n"]?.doubleValue == 3)
    #expect(abs((w["mean"]?.doubleValue ?? 0) - (0.05 + 0.051 + 0.05) / 3) < 1e-12)
    #expect((w["lower"]?.doubleValue ?? 0) > 0)
    let vsOver = try #require(json["test_id"]?["synthetic_a0.50-oversample"])
    #expect(vsOver["verdict"]?.serialized(indent: nil) == #""no clear difference""#)
    // The summary table prints the same verdicts.
    var withSelection = m
    withSelection.selectedAlpha = 0.5
    let table = SummaryTable.render(withSelection)
    #expect(table.contains("synthetic_a0.50 − baseline: worst-group acc +0.050 [95 % CI +0."))
    #expect(table.contains("over 3 seeds, gap +0.000 → helped"))
    #expect(table.contains("synthetic_a0.50 − oversample: worst-group acc"))
    #expect(table.contains("→ no clear difference"))
}

/// The stacked variants (synthetic+heuristic, synthetic+oversample) compete with the plain α mix on val;
/// the winner is named in `selected_variant`, compared against the baselines, and shown in the summary table.
@Test func selectionMayPickAStackedSyntheticVariant() throws {
    let m = try metrics([
        ("baseline", [0.80, 0.80, 0.80], [0.70, 0.70, 0.70], [[0.50, 0.50, 0.50], [0.90, 0.90, 0.90]]),
        ("synthetic_a0.50", [0.80, 0.80, 0.80], [0.72, 0.72, 0.72], [[0.60, 0.60, 0.60], [0.90, 0.90, 0.90]]),
        ("synthetic_a0.50+heuristic", [0.80, 0.80, 0.80], [0.74, 0.74, 0.74], [[0.65, 0.66, 0.64], [0.90, 0.90, 0.90]]),
        ("synthetic_a0.50+oversample", [0.70, 0.70, 0.70], [0.76, 0.76, 0.76], [[0.70, 0.70, 0.70], [0.71, 0.71, 0.71]]),
        ("oversample", [0.80, 0.80, 0.80], [0.70, 0.70, 0.70], [[0.55, 0.55, 0.55], [0.90, 0.90, 0.90]]),
    ])
    #expect(m.variant("synthetic_a0.50+oversample")?.syntheticAlpha == 0.5 && m.variant("synthetic_a0.50+oversample")?.alpha == nil)
    let worst = EvaluateStage.select(m, rule: .worstGroup)
    #expect(worst.variant == "synthetic_a0.50+heuristic" && worst.alpha == 0.5)
    #expect(EvaluateStage.select(m, rule: .balancedAccuracy).variant == "synthetic_a0.50+oversample")
    let json = EvaluateStage.comparisons(m, selected: worst.variant, splits: [.val, .testID])
    #expect(json["test_id"]?["synthetic_a0.50+heuristic-baseline"] != nil)
    #expect(json["test_id"]?["synthetic_a0.50+heuristic-oversample"] != nil)
    // Ties go to the plain mix.
    let tie = try metrics([
        ("baseline", [0.80, 0.80, 0.80], [0.70, 0.70, 0.70], [[0.50, 0.50, 0.50], [0.90, 0.90, 0.90]]),
        ("synthetic_a0.50+heuristic", [0.80, 0.80, 0.80], [0.72, 0.72, 0.72], [[0.60, 0.60, 0.60], [0.90, 0.90, 0.90]]),
        ("synthetic_a0.50", [0.80, 0.80, 0.80], [0.72, 0.72, 0.72], [[0.60, 0.60, 0.60], [0.90, 0.90, 0.90]]),
    ])
    #expect(EvaluateStage.select(tie, rule: .worstGroup).variant == "synthetic_a0.50")

    // The summary table shows the selected stacked variant (metrics.json `selected_variant`).
    var selected = m
    selected.selectedAlpha = 0.5
    selected.selectedVariant = "synthetic_a0.50+heuristic"
    #expect(selected.selectedSyntheticVariant?.name == "synthetic_a0.50+heuristic")
    let table = SummaryTable.render(selected)
    #expect(table.contains("synthetic_a0.50+heuristic (selected)"))
    #expect(table.contains("synthetic_a0.50+heuristic − baseline: worst-group acc"))
}
