import Foundation
import Testing
@testable import Fairness

/// Six rows, three classes, ties on purpose. Hand-computed values are derived in the comments.
///   row  label  scores            arg-max
///   0    0      .5 .3 .2          0 ✓
///   1    0      .4 .4 .2          0 ✓ (tie → first)
///   2    1      .1 .6 .3          1 ✓
///   3    1      .7 .2 .1          0 ✗
///   4    2      .2 .2 .6          2 ✓
///   5    2      .3 .3 .3          0 ✗ (three-way tie → first)
let handLabels = [0, 0, 1, 1, 2, 2]
let handScores = ScoreMatrix(rows: 6, columns: 3, values: [
    0.5, 0.3, 0.2, 0.4, 0.4, 0.2, 0.1, 0.6, 0.3, 0.7, 0.2, 0.1, 0.2, 0.2, 0.6, 0.3, 0.3, 0.3,
])

@Suite struct ClassificationHandTests {
    @Test func argMaxTiesGoToFirstClass() {
        #expect(predictions(handScores) == [0, 0, 1, 0, 2, 0])
        #expect(accuracy(labels: handLabels, scores: handScores) == 4.0 / 6.0)
    }

    @Test func topKUsesScikitLearnTieRule() {
        // sklearn ranks tied scores by descending class index: row 1 (true 0 tied with class 1) misses
        // at k = 1, row 5 (true 2 tied with 0 and 1) hits at k = 1.
        #expect(topKHits(labels: handLabels, scores: handScores, k: 1) == [true, false, true, false, true, true])
        #expect(topKAccuracy(labels: handLabels, scores: handScores, k: 1) == 4.0 / 6.0)
        #expect(topKAccuracy(labels: handLabels, scores: handScores, k: 2) == 1.0)
        #expect(topKAccuracy(labels: handLabels, scores: handScores, k: 3) == 1.0)  // k ≥ C: every row
    }

    @Test func balancedAccuracyAndMacroPRF() {
        // recalls 2/2, 1/2, 1/2 → 2/3. Precisions: class 0 predicted 4× with 2 right → .5; classes 1, 2 → 1.
        #expect(abs(balancedAccuracy(labels: handLabels, scores: handScores)! - 2.0 / 3.0) < 1e-15)
        let prf = macroPRF(labels: handLabels, predicted: predictions(handScores), classes: 3)!
        #expect(abs(prf.precision - 2.5 / 3) < 1e-15)
        #expect(abs(prf.recall - 2.0 / 3) < 1e-15)
        #expect(abs(prf.f1 - 2.0 / 3) < 1e-15)    // F1 per class: 4/6, 2/3, 2/3
    }

    @Test func highRiskSensitivityCountsExactHits() {
        let predicted = predictions(handScores)
        #expect(highRiskSensitivity(labels: handLabels, predicted: predicted, highRisk: [2]) == 0.5)
        #expect(highRiskSensitivity(labels: handLabels, predicted: predicted, highRisk: [0, 2]) == 0.75)
        #expect(highRiskSensitivity(labels: handLabels, predicted: predicted, highRisk: []) == nil)
    }

    @Test func edgeCasesEmptyAllOneClassAbsentClass() {
        let empty = ScoreMatrix(rows: 0, columns: 3, values: [])
        #expect(accuracy(labels: [], scores: empty) == nil)
        #expect(topKAccuracy(labels: [], scores: empty, k: 3) == nil)
        #expect(balancedAccuracy(labels: [], scores: empty) == nil)
        #expect(macroPRF(labels: [], predicted: [], classes: 3) == nil)
        // All rows of class 1: balanced accuracy is class 1's recall; rows 0,1 predicted 0 and 1.
        let s = ScoreMatrix(rows: 3, columns: 3, values: [0.9, 0.1, 0, 0.1, 0.8, 0.1, 0.2, 0.7, 0.1])
        #expect(balancedAccuracy(labels: [1, 1, 1], scores: s) == 2.0 / 3.0)
        // Class 2 absent from labels and predictions: it does not enter the macro averages.
        let prf = macroPRF(labels: [1, 1, 1], predicted: predictions(s), classes: 3)!
        #expect(prf.recall == (0 + 2.0 / 3.0) / 2)    // classes {0 (predicted only), 1}
        #expect(prf.precision == (0 + 1.0) / 2)
    }

    @Test func softLabelsUseArgMax() {
        let soft = ScoreMatrix(rows: 2, columns: 4, values: [0.5, 0.167, 0, 0.333, 0.25, 0.25, 0.5, 0])
        #expect(Labels.hard(fromSoft: soft) == [0, 2])
    }
}

@Suite struct ScikitLearnParityTests {
    /// Every random case with tied scores: the whole §6 JSON (top level, per class AUC, per group tables,
    /// gaps and ratios) against sklearn/fairlearn to 1e-9, plus macro precision/recall/F1.
    @Test func classificationCasesMatchScikitLearn() throws {
        let cases = try Fixture.json("classification.json") as! [[String: Any]]
        #expect(cases.count == 5)
        for c in cases {
            let classes = c.strings("classes")
            let labels = c.ints("labels")
            let scores = ScoreMatrix(rows: labels.count, columns: classes.count, values: c.doubles("scores"))
            let attrs = c.object("attributes")
            let attributes = ["sex", "tone"].map { AttributeColumn(name: $0, values: attrs.strings($0)) }
            let m = evaluateSplit(labels: labels, scores: scores, classes: classes,
                                  highRisk: Set(c.ints("high_risk")), attributes: attributes)
            expectJSONMatches(m.json, c["expected"]!, path: "seed\(c.int("seed"))")
            let extra = c.object("extra")
            expectClose(m.macro?.precision, extra.optionalDouble("precision_macro"), 1e-12, "precision")
            expectClose(m.macro?.recall, extra.optionalDouble("recall_macro"), 1e-12, "recall")
            expectClose(m.macro?.f1, extra.optionalDouble("f1_macro"), 1e-12, "f1")
            // The JSON carries them too (Wang et al. report macro precision/recall/F1).
            expectClose(m.json["precision_macro"]?.doubleValue, extra.optionalDouble("precision_macro"), 1e-12, "json precision")
            expectClose(m.json["recall_macro"]?.doubleValue, extra.optionalDouble("recall_macro"), 1e-12, "json recall")
            expectClose(m.json["f1_macro"]?.doubleValue, extra.optionalDouble("f1_macro"), 1e-12, "json f1")
            // fairlearn MetricFrame.difference()/.ratio() between groups.
            let fair = extra.object("fairlearn")
            for table in m.byGroup {
                let f = fair.object(table.attribute)
                expectClose(table.gap.accuracy, f.object("accuracy").optionalDouble("difference"), 1e-12, "gap")
                expectClose(table.ratio.accuracy, f.object("accuracy").optionalDouble("ratio"), 1e-12, "ratio")
                expectClose(table.gap.balancedAccuracy, f.object("balanced_accuracy").optionalDouble("difference"), 1e-12)
                expectClose(table.ratio.balancedAccuracy, f.object("balanced_accuracy").optionalDouble("ratio"), 1e-12)
            }
        }
    }
}
