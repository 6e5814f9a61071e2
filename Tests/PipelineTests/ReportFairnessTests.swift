import Fairness
import Foundation
import Testing
@testable import Pipeline

@Test func summaryReadsFairnessSeedAggregatesAndCombinesGroupsPerSeed() throws {
    // Three seeds' plain evaluations, aggregated by the Fairness module into {"mean","std","per_seed"}.
    let dark = [0.5, 0.7, 0.6], light = [0.8, 0.6, 0.9]
    let perSeed: [Fairness.JSONValue] = (0..<3).map { s in
        .fields([
            "n": .int(100), "accuracy": .number(0.7), "balanced_accuracy": .number(0.65),
            "high_risk_sensitivity": .number(nil),
            "by_group": .fields(["skin_tone": .fields([
                "values": .fields(["dark": .fields(["n": .int(20), "accuracy": .number(dark[s])]),
                                   "light": .fields(["n": .int(80), "accuracy": .number(light[s])])]),
                "gap": .fields(["accuracy": .number(abs(light[s] - dark[s]))]),
            ])]),
        ])
    }
    let root: Fairness.JSONValue = .fields([
        "schema": .int(1), "dataset": .string("derm"),
        "variants": .fields(["baseline": .fields(["seeds": .int(3), "splits": .fields(["test_id": aggregateSeeds(perSeed)])])]),
    ])
    let m = try MetricsSummary(fairness: root)
    let split = try #require(m.variant("baseline")?.splits["test_id"])
    #expect(split.highRiskSensitivity?.mean == nil)
    #expect(split.groups.map(\.attribute) == ["skin_tone"])
    #expect(split.groups[0].values.map(\.n) == [20, 80])
    // Worst group per seed: min(dark, light) = 0.5, 0.6, 0.6 (not min of the means 0.6 vs 0.767).
    let worst = try #require(split.worstGroupAccuracy)
    #expect(abs(worst.mean! - 1.7 / 3) < 1e-12)
    #expect(abs(worst.std! - (1.0 / 300).squareRoot()) < 1e-12)
    let gap = try #require(split.accuracyGap)  // 0.3, 0.1, 0.3
    #expect(abs(gap.mean! - 0.7 / 3) < 1e-12)
    #expect(abs(gap.std! - (0.04 / 3).squareRoot()) < 1e-12)
    #expect(ReportBuilder.meanStd(worst) == "0.567 ± 0.058")
}
