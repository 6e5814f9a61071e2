import Testing
import Tensors
@testable import Fairness

@Suite struct GroupTableTests {
    /// Groups of the six hand rows: "a" = rows 0, 2, 4 (all right), "b" = rows 1, 3, 5 (row 1 right).
    let groups = ["a", "b", "a", "b", "a", "b"]

    @Test func handComputedGapAndRatio() {
        let t = groupTable(attribute: "g", groups: groups, labels: handLabels, scores: handScores, highRisk: [2])
        #expect(t.values == ["a", "b"])
        #expect(t["a"]!.n == 3 && t["b"]!.n == 3)
        #expect(t["a"]!.accuracy == 1 && t["b"]!.accuracy == 1.0 / 3.0)
        #expect(t.gap.accuracy == 1 - 1.0 / 3.0)
        #expect(t.ratio.accuracy == 1.0 / 3.0)
        // Group b: labels 0, 1, 2 with predictions 0, 0, 0 → recalls 1, 0, 0.
        #expect(t["b"]!.balancedAccuracy == 1.0 / 3.0)
        // High-risk class 2: group a row 4 hit, group b row 5 miss → gap 1, ratio 0.
        #expect(t["a"]!.highRiskSensitivity == 1 && t["b"]!.highRiskSensitivity == 0)
        #expect(t.gap.highRiskSensitivity == 1 && t.ratio.highRiskSensitivity == 0)
    }

    @Test func singleGroupHasZeroGapAndUnitRatio() {
        let t = groupTable(attribute: "g", groups: Array(repeating: "only", count: 6), labels: handLabels,
                           scores: handScores, highRisk: [])
        #expect(t.values == ["only"])
        #expect(t.gap.accuracy == 0 && t.ratio.accuracy == 1)
        #expect(t["only"]!.accuracy == accuracy(labels: handLabels, scores: handScores))
        #expect(t["only"]!.highRiskSensitivity == nil && t.gap.highRiskSensitivity == nil)
    }

    @Test func emptyExpectedGroupIsListedButSkipped() {
        let t = groupTable(attribute: "g", groups: groups, labels: handLabels, scores: handScores, highRisk: [],
                           expectedValues: ["c"])
        #expect(t.values == ["a", "b", "c"])
        #expect(t["c"] == GroupMetrics(n: 0))
        #expect(t.gap.accuracy == 1 - 1.0 / 3.0)   // unchanged by the empty group
        #expect(t.ratio.accuracy == 1.0 / 3.0)
    }

    @Test func groupWithOneClassHasNullAUCAndIsSkipped() {
        // Group "x" = rows 0, 1 (both class 0): AUC undefined there; the gap uses group "y" only.
        let t = groupTable(attribute: "g", groups: ["x", "x", "y", "y", "y", "y"], labels: handLabels,
                           scores: handScores, highRisk: [])
        #expect(t["x"]!.aucMacro == nil)
        #expect(t["y"]!.aucMacro != nil)
        #expect(t.gap.aucMacro == 0 && t.ratio.aucMacro == 1)
    }

    /// Rows whose attribute is missing used to form a group named "" that entered the gap (here it would be
    /// the worst group, accuracy 0). Now they are reported apart and the table equals the table of the rows
    /// that have a value.
    @Test func missingAttributeRowsAreReportedApartAndLeaveTheGap() {
        // Rows 3 and 5 (both wrong) have no value; a = rows 0, 2, 4 (all right), b = row 1 (right).
        let withMissing: [String?] = ["a", "b", "a", nil, "a", nil]
        let t = groupTable(attribute: "g", groups: withMissing, labels: handLabels, scores: handScores, highRisk: [2])
        #expect(t.values == ["a", "b"])
        #expect(t.gap.accuracy == 0 && t.ratio.accuracy == 1)
        let known = [0, 1, 2, 4]
        let reference = groupTable(attribute: "g", groups: known.map { withMissing[$0] }, labels: known.map { handLabels[$0] },
                                   scores: handScores.selecting(rows: known), highRisk: [2])
        #expect(t.metrics == reference.metrics && t.gap == reference.gap && t.ratio == reference.ratio)
        #expect(reference.missing == nil)
        let missing = groupMetrics(rows: [3, 5], labels: handLabels, scores: handScores, highRisk: [2])
        #expect(t.missing == missing && missing.n == 2 && missing.accuracy == 0)
        let text = t.json.serialized(indent: nil)
        #expect(!text.contains("\"\":{"))
        #expect(text.contains(#""missing_attribute":{"n":2,"accuracy":0.0,"#))
        // The posterior's outgroup of "a" is row 1 only: the missing rows are in neither side.
        let post = groupTable(attribute: "g", groups: withMissing, labels: handLabels, scores: handScores, highRisk: [],
                              posteriorSeed: 3, posteriorSamples: 1000).top3VsOutgroup!
        var stream = RNG(seed: 3).split(0)
        #expect(post[0] == posteriorDifference(groupHits: 3, groupCount: 3, outgroupHits: 1, outgroupCount: 1,
                                               samples: 1000, seed: stream.next()))
    }

    @Test func gapAndRatioConventions() {
        #expect(gapAndRatio([]).gap == nil && gapAndRatio([nil, nil]).ratio == nil)
        #expect(gapAndRatio([0.5, nil, 0.25]) == (0.25, 0.5))
        #expect(gapAndRatio([0, 0]).gap == 0 && gapAndRatio([0, 0]).ratio == nil)  // 0/0: fairlearn NaN
    }

    @Test func jsonFormHasDesignKeysAndNulls() {
        let m = evaluateSplit(labels: handLabels, scores: handScores, classes: ["x", "y", "z"], highRisk: [2],
                              attributes: [AttributeColumn(name: "g", values: groups, expectedValues: ["c"])])
        let text = m.json.serialized(indent: nil)
        #expect(text.hasPrefix(#"{"n":6,"accuracy":0.6666666666666666,"top3_accuracy":1.0,"#))
        #expect(text.contains(#""auc":{"per_class":{"x":0.75,"y":0.5625,"z":0.9375},"macro":0.75}"#))
        #expect(text.contains(#""c":{"n":0,"accuracy":null,"balanced_accuracy":null,"auc_macro":null,"#))
    }
}
