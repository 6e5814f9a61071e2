import Foundation
import Testing
@testable import Pipeline

@Test func summaryTableMatchesGolden() throws {
    let metrics = try MetricsSummary(json: exampleMetricsJSON())
    // The example's seeds differ by the same offset in every variant, so every paired difference is
    // constant and its interval collapses onto the mean.
    let golden = """
    fairgen summary: derm-demo v3 (selected α = 0.50 on val balanced accuracy)

    In-distribution (test_id)
    variant                     accuracy         worst-group acc  gap              high-risk sens
    ----------------------------------------------------------------------------------------------
    baseline                    0.780 ± 0.010    0.600 ± 0.010    0.220 ± 0.000    0.600 ± 0.020
    synthetic_a0.50 (selected)  0.800 ± 0.010    0.640 ± 0.010    0.190 ± 0.000    0.630 ± 0.020
    oversample                  0.784 ± 0.010    0.608 ± 0.010    0.214 ± 0.000    0.606 ± 0.020
    synthetic_a0.50 − baseline: worst-group acc +0.040 [95 % CI +0.040, +0.040] over 3 seeds, gap −0.030 → helped
    synthetic_a0.50 − oversample: worst-group acc +0.032 [95 % CI +0.032, +0.032] over 3 seeds, gap −0.024 → helped

    Out-of-distribution (test_ood)
    variant                     accuracy         worst-group acc  gap              high-risk sens
    ----------------------------------------------------------------------------------------------
    baseline                    0.680 ± 0.010    0.500 ± 0.010    0.220 ± 0.000    0.500 ± 0.020
    synthetic_a0.50 (selected)  0.700 ± 0.010    0.540 ± 0.010    0.190 ± 0.000    0.530 ± 0.020
    oversample                  0.684 ± 0.010    0.508 ± 0.010    0.214 ± 0.000    0.506 ± 0.020
    synthetic_a0.50 − baseline: worst-group acc +0.040 [95 % CI +0.040, +0.040] over 3 seeds, gap −0.030 → helped
    synthetic_a0.50 − oversample: worst-group acc +0.032 [95 % CI +0.032, +0.032] over 3 seeds, gap −0.024 → helped

    """
    let table = SummaryTable.render(metrics)
    if table != golden { print(table) }
    #expect(table == golden)
}

@Test func summaryTableWithoutSelectedAlphaPicksOnValAndShowsMissingValues() throws {
    let json = #"""
    {"schema":1,"dataset":"x","variants":{
      "baseline":{"splits":{"test_id":{"accuracy":0.5},"val":{"balanced_accuracy":0.4}}},
      "synthetic_a0.50":{"splits":{"test_id":{"accuracy":0.6},"val":{"balanced_accuracy":0.45},"test_ood":{"accuracy":0.9}}},
      "synthetic_a0.25":{"splits":{"test_id":{"accuracy":0.7},"val":{"balanced_accuracy":0.41},"test_ood":{"accuracy":0.99}}}}}
    """#
    let m = try MetricsSummary(json: Array(json.utf8))
    #expect(SummaryTable.bestSynthetic(m)?.name == "synthetic_a0.50")  // best on val, not on test
    let table = SummaryTable.render(m)
    #expect(table.contains("synthetic_a0.50 (selected)  0.600            –"))
    #expect(table.contains("oversample                  –                –                –                –\n"))
    // Without per-seed worst-group values there is nothing to compare: no verdict is claimed.
    #expect(!table.contains(" − baseline"))
}
