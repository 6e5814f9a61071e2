import Foundation
import Testing
@testable import Fairness

@Suite struct AUCTests {
    @Test func handComputedOneVsRestWithTies() {
        // Class 0: positives score .5, .4 against negatives .1 .7 .2 .3 → 3 + 3 of 8 pairs = .75.
        // Class 1: positives .6, .2 against .3 .4 .2 .3 → 4 + ½ (tie with .2) = 4.5/8.
        // Class 2: positives .6, .3 against .2 .2 .3 .1 → 4 + 3.5 (tie with .3) = 7.5/8.
        let auc = oneVsRestAUC(labels: handLabels, scores: handScores)
        #expect(auc.perClass == [0.75, 0.5625, 0.9375])
        #expect(auc.macro == 0.75)
    }

    @Test func binaryEdgeCases() {
        #expect(rocAUC(scores: [0.3, 0.3, 0.3, 0.3], positive: [true, false, true, false]) == 0.5)
        #expect(rocAUC(scores: [0.1, 0.2], positive: [true, true]) == nil)
        #expect(rocAUC(scores: [0.1, 0.2], positive: [false, false]) == nil)
        #expect(rocAUC(scores: [], positive: []) == nil)
        #expect(rocAUC(scores: [0.9, 0.1], positive: [true, false]) == 1)
        #expect(rocAUC(scores: [0.9, 0.1], positive: [false, true]) == 0)
    }

    @Test func undefinedClassesAreSkippedInMacro() {
        // Class 2 has no positives: its AUC is nil and the macro averages classes 0 and 1 only.
        let s = ScoreMatrix(rows: 4, columns: 3, values: [0.8, 0.1, 0.1, 0.6, 0.3, 0.1, 0.2, 0.7, 0.1, 0.5, 0.4, 0.1])
        let auc = oneVsRestAUC(labels: [0, 0, 1, 1], scores: s)
        #expect(auc.perClass[2] == nil)
        // Class 0: positives .8 .6 beat negatives .2 .5; class 1: .7 .4 beat .1 .3 → both 1.
        #expect(auc.perClass[0] == 1 && auc.perClass[1] == 1)
        #expect(auc.macro == 1)
        // Class 1 perfect, class 0 reversed (rows 0, 1 now score lowest in column 0): macro (0 + 1) / 2.
        let t = ScoreMatrix(rows: 4, columns: 3, values: [0.1, 0.1, 0.8, 0.2, 0.3, 0.5, 0.6, 0.7, 0.1, 0.5, 0.4, 0.1])
        #expect(oneVsRestAUC(labels: [0, 0, 1, 1], scores: t).perClass[0] == 0)
        #expect(oneVsRestAUC(labels: [0, 0, 1, 1], scores: t).macro == 0.5)
        // A group whose rows all share one class has no defined AUC at all.
        #expect(oneVsRestAUC(labels: [1, 1], scores: s.selecting(rows: [2, 3])).macro == nil)
    }

    @Test func multiLabelMaskedAUCAndParityMatchScikitLearn() throws {
        let f = try Fixture.json("multilabel.json") as! [String: Any]
        let rows = f.int("rows"), k = f.int("conditions")
        let scores = ScoreMatrix(rows: rows, columns: k, values: f.doubles("scores"))
        let targets = f.ints("targets"), mask = f.bools("mask")
        let conditions = (0..<k).map { "cond\($0)" }
        let m = evaluateMultiLabel(targets: targets, mask: mask, scores: scores, conditions: conditions,
                                   attributes: [AttributeColumn(name: "sex", values: f.strings("sex"))])
        let expected = (f["per_condition"] as! [Any]).map { ($0 as? NSNumber)?.doubleValue }
        for c in 0..<k { expectClose(m.auc.perClass[c], expected[c], 1e-12, "condition \(c)") }
        #expect(m.auc.perClass[3] == nil)   // no positives
        expectClose(m.auc.macro, f.optionalDouble("macro"), 1e-12, "macro")
        let parity = f["parity"] as! [[String: Any]]
        for c in 0..<k {
            let groups = parity[c].object("groups")
            let got = m.aucParity![0].conditions[c]
            #expect(got.byGroup.map(\.value) == ["F", "M"])
            for (v, auc) in got.byGroup { expectClose(auc, groups.optionalDouble(v), 1e-12, "parity \(c) \(v)") }
            expectClose(got.gap, parity[c].optionalDouble("gap"), 1e-12, "gap \(c)")
        }
        // Masking matters: without the mask condition 0's AUC changes.
        let unmasked = multiLabelAUC(targets: targets, mask: nil, scores: scores)
        #expect(unmasked.perClass[0] != m.auc.perClass[0])
    }

    /// Multi-label `by_group` tables (empty before): for every attribute, per group the AUC of each
    /// condition and their mean, best − worst gaps and ratios, rows with a missing race apart; and
    /// `auc_parity` for every attribute, not only the first. Against scikit-learn to 1e-12.
    @Test func multiLabelGroupTablesForEveryAttributeMatchScikitLearn() throws {
        let f = try Fixture.json("multilabel.json") as! [String: Any]
        let rows = f.int("rows"), k = f.int("conditions")
        let race = (f["race"] as! [Any]).map { $0 as? String }
        #expect(race.contains(nil))
        let m = evaluateMultiLabel(targets: f.ints("targets"), mask: f.bools("mask"),
                                   scores: ScoreMatrix(rows: rows, columns: k, values: f.doubles("scores")),
                                   conditions: (0..<k).map { "cond\($0)" },
                                   attributes: [AttributeColumn(name: "sex", values: f.strings("sex")),
                                                AttributeColumn(name: "race", values: race)])
        #expect(m.byGroup.map(\.attribute) == ["sex", "race"])
        expectJSONMatches(m.json["by_group"]!, f["by_group"]!, tolerance: 1e-12, path: "by_group")
        expectJSONMatches(m.json["auc_parity"]!, f["auc_parity"]!, tolerance: 1e-12, path: "auc_parity")
        // The race gap is the paper's best − worst mean AUC over the races.
        let byRace = m.byGroup[1]
        let means = byRace.metrics.compactMap(\.aucMacro)
        #expect(means.count == 3 && byRace.gap.aucMacro == means.max()! - means.min()!)
        #expect(byRace.missing?.n == race.filter { $0 == nil }.count)
    }
}
