import Foundation
import Testing
@testable import Datasets

private let head = """
name: derm
archive: derm.tar.gz
modality: dermatology
table: t.csv
image_column: path
label: {kind: single, column: dx, classes: [a, b]}
attributes: [sex, tone]
pipeline:
  ddpm: {cond: [label, tone]}

"""

/// The manifest's `experiment:` block: each kind parses, and every mistake is an error that names the file,
/// the key and what was expected, with user text quoted (never raw).
@Suite struct ExperimentSpecTests {
    func error(_ block: String) -> DatasetError? { manifestError(head + block) }

    @Test func everyKindParsesWithDefaults() throws {
        let skew = try Manifest.parse(text: head + "experiment: {kind: skew, levels: [0, 0.5, 0.9]}\n", file: "x.yaml")
        #expect(skew.experiment == ExperimentSpec(id: "skew", kind: .skew, levels: [0, 0.5, 0.9]))
        // The default attribute is the fair-sample one (first attribute of ddpm.cond), not the first attribute.
        #expect(skew.experimentAttribute == "tone")
        let le = try Manifest.parse(text: head + "experiment: {kind: label_efficiency, levels: [0.1, 1], attribute: sex, id: le-1, seed: 3}\n",
                                    file: "x.yaml")
        #expect(le.experiment == ExperimentSpec(id: "le-1", kind: .labelEfficiency, levels: [0.1, 1], attribute: "sex", seed: 3))
        #expect(le.experimentAttribute == "sex")
        let ratio = try Manifest.parse(text: head + "experiment: {kind: ratio, levels: [1, 5, 10]}\n", file: "x.yaml")
        #expect(ratio.experiment?.levels == [1, 5, 10] && ratio.experiment?.id == "ratio")
        let tr = try Manifest.parse(text: head + "experiment: {kind: translation, scenarios: [some, few]}\n", file: "x.yaml")
        #expect(tr.experiment?.scenarios == [ExperimentSpec.Scenario.some, ExperimentSpec.Scenario.few] && tr.experiment?.levels == [])
        #expect(try Manifest.parse(text: head, file: "x.yaml").experiment == nil)
    }

    @Test func translationScenarioNoneIsRefusedWithTheReason() {
        let e = error("experiment: {kind: translation, scenarios: [some, none]}\n")
        #expect(e?.file == "inbox/x.yaml" && e?.location == "experiment.scenarios[1]")
        #expect(e?.description.contains("never sees the minority's conditioning") == true)
        #expect(e?.description.contains("scenario none is not supported") == true)
    }

    @Test func levelsOutsideEachKindsRangeAreRefused() {
        // Removing every minority row would leave nothing of it to generate: skew stops below 1.
        #expect(error("experiment: {kind: skew, levels: [0, 1]}\n")?.description
                == "inbox/x.yaml: experiment.levels[1]: found \"1\", expected a number in [0, 1)")
        #expect(error("experiment: {kind: label_efficiency, levels: [0]}\n")?.expected == "a number in (0, 1]")
        #expect(error("experiment: {kind: ratio, levels: [11]}\n")?.expected == "a number in (0, 10]")
        #expect(error("experiment: {kind: ratio, levels: [2, 2]}\n")?.location == "experiment.levels[1]")
        #expect(error("experiment: {kind: skew, levels: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}\n")?.expected == "at most 8 entries")
        #expect(error("experiment: {kind: skew}\n")?.location == "experiment.levels")
        #expect(error("experiment: {kind: translation}\n")?.location == "experiment.scenarios")
    }

    @Test func keysThatDoNotBelongAreRefused() {
        #expect(error("experiment: {kind: skew, levels: [0], scenarios: [some]}\n")?.location == "experiment.scenarios")
        #expect(error("experiment: {kind: translation, scenarios: [few], levels: [0]}\n")?.location == "experiment.levels")
        let unknown = error("experiment: {kind: skew, levels: [0], level: 3}\n")
        #expect(unknown?.code == .unknownKey && unknown?.location == "experiment.level")
        #expect(error("experiment: {kind: sweep, levels: [0]}\n")?.expected == "one of skew, label_efficiency, ratio, translation")
        #expect(error("experiment: {levels: [0]}\n")?.location == "experiment.kind")
    }

    @Test func attributeAndIdAreCheckedAndQuotedNotEchoed() {
        let attr = error("experiment: {kind: skew, levels: [0.5], attribute: \"age\\e[31m\"}\n")
        #expect(attr?.location == "experiment.attribute")
        #expect(attr?.description.contains("\u{1B}") == false, "a control character is escaped, never printed raw")
        #expect(attr?.expected == "one of attributes (\"sex\", \"tone\")")
        #expect(error("experiment: {kind: skew, levels: [0.5], id: Bad_Id}\n")?.location == "experiment.id")
        // Translation translates to the generator's attribute; another one is refused.
        #expect(error("experiment: {kind: translation, scenarios: [few], attribute: sex}\n")?.location == "experiment.attribute")
        let none = manifestError(head.replacingOccurrences(of: "attributes: [sex, tone]\n", with: "")
            .replacingOccurrences(of: "cond: [label, tone]", with: "cond: [label]") + "experiment: {kind: skew, levels: [0.5]}\n")
        #expect(none?.location == "experiment.attribute" && none?.code == .missingKey)
    }
}

/// `Sampling.labelFraction`: per group, the fraction of labeled rows that stays labeled (at least one), nested
/// across fractions for one seed.
@Suite struct LabelFractionTests {
    @Test func keepsTheFractionPerGroupNested() {
        let groups = [Int](repeating: 0, count: 40) + [Int](repeating: 1, count: 10) + [2]
        let labeled = [Bool](repeating: true, count: groups.count)
        let quarter = Sampling.labelFraction(groups: groups, labeled: labeled, fraction: 0.25, seed: 5)
        #expect(quarter.filter { groups[$0] == 0 }.count == 10)
        #expect(quarter.filter { groups[$0] == 1 }.count == 3)          // 2.5 rounds to 3 (half away from zero)
        #expect(quarter.filter { groups[$0] == 2 }.count == 1, "every group keeps at least one labeled row")
        let half = Sampling.labelFraction(groups: groups, labeled: labeled, fraction: 0.5, seed: 5)
        #expect(Set(quarter).isSubset(of: Set(half)))
        #expect(Sampling.labelFraction(groups: groups, labeled: labeled, fraction: 1, seed: 5) == Array(groups.indices))
        #expect(Sampling.labelFraction(groups: groups, labeled: labeled, fraction: 0.5, seed: 6) != half)
        // Unlabeled rows are never picked.
        var some = labeled; some[0] = false
        #expect(!Sampling.labelFraction(groups: groups, labeled: some, fraction: 1, seed: 5).contains(0))
    }

    @Test func skewThinsOutTheGivenMinority() {
        let values = [0, 0, 0, 1, 1, 2, 2, 2, 2]
        #expect(Sampling.minorityValue(values) == 1)
        #expect(Sampling.skew(values: values, keep: 0, seed: 1) == [0, 1, 2, 5, 6, 7, 8])
        #expect(Sampling.skew(values: values, keep: 0, seed: 1, minority: 2) == [0, 1, 2, 3, 4])
    }
}
