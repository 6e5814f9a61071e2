import Foundation
import Store
import Testing
@testable import Datasets
@testable import Pipeline

/// sweep.json / sweep.html from hand-made metrics.json files: the plotted numbers follow metrics.json's
/// definitions (worst group and gap over the experiment's attribute, per seed then mean ± std), the paired
/// differences have metrics.json's shape, and user text is escaped in the HTML.
@Suite struct SweepReportTests {
    static func metrics(baselineAccuracy: [Double], dark: [Double], light: [Double], darkAUC: [Double]) -> [UInt8] {
        func stat(_ v: [Double]) -> String {
            let mean = v.reduce(0, +) / Double(v.count)
            let std = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count - 1)).squareRoot()
            return "{\"mean\": \(mean), \"std\": \(std), \"per_seed\": [\(v.map { "\($0)" }.joined(separator: ", "))]}"
        }
        func split(_ acc: [Double], _ dark: [Double], _ light: [Double]) -> String {
            let gap = zip(dark, light).map { abs($0 - $1) }
            return """
            {"accuracy": \(stat(acc)), "auc": {"macro": \(stat([0.8, 0.9]))},
             "by_group": {"sex": {"values": {"f": {"n": 5, "accuracy": \(stat([0.1, 0.1]))}}, "gap": {"accuracy": \(stat([0.9, 0.9]))}},
                          "skin_tone": {"values": {"dark": {"n": 3, "accuracy": \(stat(dark)), "auc_macro": \(stat(darkAUC))},
                                                   "light": {"n": 9, "accuracy": \(stat(light)), "auc_macro": \(stat([0.95, 0.95]))}},
                                        "gap": {"accuracy": \(stat(gap))}}}}
            """
        }
        let text = """
        {"schema": 1, "dataset": "derm-demo", "selected_variant": "synthetic_a0.50",
         "variants": {"baseline": {"seeds": 2, "splits": {"test_id": \(split(baselineAccuracy, dark, light)), "test_ood": \(split(baselineAccuracy, dark, light))}},
                      "synthetic_a0.50": {"seeds": 2, "splits": {"test_id": \(split([0.7, 0.8], [0.6, 0.7], light)), "test_ood": \(split([0.7, 0.8], [0.6, 0.7], light))}}}}
        """
        return Array(text.utf8)
    }

    func report(attribute: String = "skin_tone") throws -> SweepReport {
        let spec = ExperimentSpec(id: "tone-skew", kind: .skew, levels: [0, 0.5])
        let m = try Manifest.parse(text: ExperimentFixture.manifest + "experiment: {kind: skew, levels: [0, 0.5]}\n", file: "x.yaml")
        let levels = Experiment.levels(spec, manifest: m)
        return try SweepReport(dataset: "derm-demo", spec: spec, attribute: attribute, profile: .quick, levels: [
            .init(level: levels[0], version: 1, metricsJSON: Self.metrics(baselineAccuracy: [0.6, 0.8], dark: [0.4, 0.6], light: [0.8, 0.8], darkAUC: [0.6, 0.7])),
            .init(level: levels[1], version: 2, metricsJSON: Self.metrics(baselineAccuracy: [0.5, 0.7], dark: [0.2, 0.4], light: [0.8, 0.9], darkAUC: [0.5, 0.5])),
        ])
    }

    @Test func plottedNumbersFollowTheMetricsDefinitions() throws {
        let r = try report()
        #expect(r.variants == ["baseline", "synthetic_a0.50"])
        let base1 = try #require(r.points[1]["test_id"]?["baseline"])
        #expect(abs(base1["accuracy"]!.mean! - 0.6) < 1e-12)
        // Worst group over skin_tone only (sex's 0.1 would win over every attribute): per seed min(dark, light).
        #expect(abs(base1["worst_group_accuracy"]!.mean! - 0.3) < 1e-12)
        #expect(abs(base1["worst_group_accuracy"]!.std! - (0.02).squareRoot()) < 1e-9)
        #expect(abs(base1["gap"]!.mean! - 0.55) < 1e-12, "gap over skin_tone, not sex's 0.9")
        #expect(base1["worst_group_auc"]!.mean == 0.5 && base1["worst_group_auc"]!.std == 0)
        #expect(abs(base1["auc_macro"]!.mean! - 0.85) < 1e-12)

        let json = try JSONValue.parse(Array(r.json.utf8))
        #expect(json["experiment"] == .string("tone-skew") && json["kind"] == .string("skew"))
        guard case .array(let levels)? = json["levels"] else { Issue.record("no levels"); return }
        #expect(levels.count == 2 && levels[1]["version"] == .number(2) && levels[1]["label"] == .string("0.50"))
        let pair = levels[0]["comparisons"]?["test_ood"]?["synthetic_a0.50-baseline"]
        // Paired per seed: (0.7 − 0.6, 0.8 − 0.8) → mean 0.05.
        if case .number(let d)? = pair?["accuracy"]?["mean"] { #expect(abs(d - 0.05) < 1e-12) } else { Issue.record("no paired accuracy") }
        #expect(levels[0]["variants"] == (try JSONValue.parse(Self.metrics(baselineAccuracy: [0.6, 0.8], dark: [0.4, 0.6], light: [0.8, 0.8], darkAUC: [0.6, 0.7])))["variants"])
        #expect(r.markdown.contains("| 0.50 | test_id | baseline | 0.600 ± 0.141 | 0.300 ± 0.141 |"))
    }

    @Test func axesStayInsideZeroToOneWhateverTheErrorBars() throws {
        let spec = ExperimentSpec(id: "tone-skew", kind: .skew, levels: [0])
        let m = try Manifest.parse(text: ExperimentFixture.manifest + "experiment: {kind: skew, levels: [0]}\n", file: "x.yaml")
        // Accuracy 0 and 1 over two seeds: mean 0.5 ± 0.71, bars past both ends.
        let r = try SweepReport(dataset: "derm-demo", spec: spec, attribute: "skin_tone", profile: .quick, levels: [
            .init(level: Experiment.levels(spec, manifest: m)[0], version: 1,
                  metricsJSON: Self.metrics(baselineAccuracy: [0, 1], dark: [0, 1], light: [1, 0], darkAUC: [0.5, 0.5])),
        ])
        let chart = r.chart(split: "test_id", metric: "accuracy", title: "accuracy")
        let ticks = chart.components(separatedBy: "text-anchor=\"end\">").dropFirst().compactMap { Double($0.prefix { $0 != "<" }) }
        #expect(ticks.count == 5 && ticks.min() == 0 && ticks.max() == 1, "\(ticks)")
    }

    @Test func htmlDrawsOneLinePerVariantPerChartAndEscapesUserText() throws {
        let html = try report().html
        // 2 splits × 5 metrics charts, each with one polyline per variant.
        #expect(html.components(separatedBy: "<svg").count - 1 == 10)
        #expect(html.components(separatedBy: "<polyline").count - 1 == 20)
        #expect(!html.contains("<script"))
        // An attribute name is user text. (Not in the table, so worst group falls back to every attribute,
        // and `sex` has no AUC per value: the worst-group AUC charts stay empty rather than invent a line.)
        let odd = try report(attribute: "<b>tone</b>").html
        #expect(!odd.contains("<b>tone</b>") && odd.contains("&lt;b&gt;tone&lt;/b&gt;"))
        #expect(odd.components(separatedBy: "<polyline").count - 1 == 16)
    }
}
