import Foundation
import Testing
@testable import Fairness

@Suite struct SeedAggregationTests {
    @Test func meanAndSampleStd() {
        let s = aggregateSeeds([0.7, 0.8, 0.9, nil])
        #expect(abs(s.mean! - 0.8) < 1e-15)
        #expect(abs(s.std! - 0.1) < 1e-15)           // ddof = 1: √(0.02 / 2)
        #expect(s.perSeed == [0.7, 0.8, 0.9, nil])
        #expect(aggregateSeeds([0.5]).std == nil)      // one seed: std undefined
        #expect(aggregateSeeds([nil, nil]).mean == nil)
        #expect(meanAndStd([1, 2, 3, 4], ddof: 0).std! == (1.25).squareRoot())
    }

    @Test func nestedSplitsAggregateLeafByLeaf() {
        let a = evaluateSplit(labels: handLabels, scores: handScores, classes: ["x", "y", "z"], highRisk: [2],
                              attributes: [AttributeColumn(name: "g", values: ["a", "b", "a", "b", "a", "b"])])
        var b = a
        b.accuracy = 0.5
        b.auc.perClass[1] = nil
        let agg = aggregateSeeds([a.json, b.json])
        #expect(agg["accuracy"] == aggregateSeeds([4.0 / 6.0, 0.5]).json)
        #expect(agg["n"] == .fields(["mean": .number(6), "std": .number(0), "per_seed": .array([.number(6), .number(6)])]))
        let y = agg["auc"]?["per_class"]?["y"]
        #expect(y?["per_seed"] == .array([.number(0.5625), .null]))
        #expect(y?["std"] == .null)
        #expect(agg["by_group"]?["g"]?["gap"]?["accuracy"]?["mean"]?.doubleValue == 1 - 1.0 / 3.0)
        // A key missing from one seed counts as null there.
        let c = aggregateSeeds([.fields(["m": .number(1)]), .fields([:])])
        #expect(c["m"]?["per_seed"] == .array([.number(1), .null]))
    }
}
