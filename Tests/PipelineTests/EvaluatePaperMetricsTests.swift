import Foundation
import NN
import Tensors
import Testing
import Fairness
@testable import Datasets
@testable import Pipeline

/// The evaluate stage's metrics.json sections that the paper reports (issue 13): group tables without a
/// `""` group, multi-label group tables, the group-vs-outgroup posterior, MMD between every pair of
/// domains, the PCA component count and the samples misclassified by every seed.
@Suite struct EvaluatePaperMetricsTests {
    static let classes = ["c0", "c1", "c2", "c3", "c4"]

    /// A one-hot score row for class `c` (of 5).
    static func oneHot(_ c: Int, _ k: Int = 5) -> [Float] {
        var s = [Float](repeating: 0.05, count: k); s[c] = 0.8; return s
    }

    static func file(_ tensors: [(String, Tensor)]) -> SafeTensorsFile {
        try! SafeTensors.decode(SafeTensors.encode(tensors))
    }

    static func config(_ manifest: Manifest, seeds: Int, mmd: Bool) -> ChainConfig {
        var config = ChainConfig.resolve(manifest: manifest, profile: .quick, threads: 1)
        config.classify.alphas = []
        config.classify.baselines = ["none"]
        config.classify.seeds = seeds
        config.evaluate.mmd = mmd
        config.evaluate.mmdRepeats = 3
        return config
    }

    static func singleLabelManifest() -> Manifest {
        Manifest(name: "derm", archive: "derm.tar.gz", modality: .dermatology, table: "t.csv", imageColumn: "p",
                 label: LabelSpec(kind: .single, column: "dx", classes: classes), attributes: ["sex"])
    }

    /// test_id: 8 F rows (all right), 8 M rows (4 right), 6 rows without sex (all wrong). Two seeds; seed 1
    /// also gets F rows 0 and 1 wrong, so only the rows wrong in *both* seeds are "misclassified by every
    /// seed". test_ood: 105 rows without attributes, all wrong in both seeds (the listing is capped).
    @Test func singleLabelSectionsMissingRowsPosteriorAndMisclassified() throws {
        var rows: [TableRow] = []
        var correct: [[Bool]] = [[], []]      // per seed, per test_id row
        func add(_ y: Int, _ sex: Int, _ split: Split) {
            var label = [Float](repeating: 0, count: 5); label[y] = 1
            rows.append(TableRow(path: "img\(rows.count).png", label: label, labelMask: [1, 1, 1, 1, 1],
                                 attributes: [sex], domain: -1, split: split))
        }
        for i in 0..<8 { add(i % 5, 0, .testID); correct[0].append(true); correct[1].append(i >= 2) }
        for i in 0..<8 { add(i % 5, 1, .testID); correct[0].append(i < 4); correct[1].append(i < 4) }
        for i in 0..<6 { add(i % 5, -1, .testID); correct[0].append(false); correct[1].append(false) }
        for i in 0..<105 { add(i % 5, -1, .testOOD) }
        let table = DatasetTable(labelKind: .single, classes: Self.classes, attributes: ["sex"], attributeValues: [["F", "M"]],
                                 domainValues: [], rows: rows)
        func scores(_ split: Split, _ right: [Bool]) -> Tensor {
            let labels = table.rows.filter { $0.split == split }.map { $0.topClass! }
            return Tensor(shape: [labels.count, 5], data: zip(labels, right).flatMap { y, ok in Self.oneHot(ok ? y : (y + 1) % 5) })
        }
        let wrongOOD = [Bool](repeating: false, count: 105)
        let predictions = (0..<2).reduce(into: [String: SafeTensorsFile]()) { out, seed in
            out["baseline/seed\(seed)"] = Self.file([("scores.test_id", scores(.testID, correct[seed])),
                                                     ("scores.test_ood", scores(.testOOD, wrongOOD))])
        }
        let manifest = Self.singleLabelManifest()
        let d = IngestedDataset(manifest: manifest, table: table, images: [])
        let tree = try EvaluateStage.evaluate(d, config: Self.config(manifest, seeds: 2, mmd: false), predictions: predictions)

        // Missing sex: no "" group; reported apart; the gap and the worst group are F vs M only.
        let split = try #require(tree["variants"]?["baseline"]?["splits"]?["test_id"])
        let sex = try #require(split["by_group"]?["sex"])
        guard case .object(let values)? = sex["values"] else { Issue.record("no values"); return }
        #expect(values.map(\.key) == ["F", "M"])
        #expect(sex["missing_attribute"]?["n"]?["mean"]?.doubleValue == 6)
        #expect(sex["missing_attribute"]?["accuracy"]?["mean"]?.doubleValue == 0)
        // Seed 0: F 1, M 0.5 → gap 0.5; seed 1: F 0.75, M 0.5 → 0.25 (with the "" group it was 1 and 1).
        #expect(sex["gap"]?["accuracy"]?["per_seed"] == .array([.number(0.5), .number(0.25)]))
        let summary = try MetricsSummary(fairness: tree)
        #expect(summary.variant("baseline")?.splits["test_id"]?.worstGroupAccuracy?.perSeed == [0.5, 0.5])
        #expect(summary.variant("baseline")?.splits["test_id"]?.groups.first?.missing?.n == 6)
        #expect(ReportBuilder.html(metrics: summary).contains("Rows with no sex value (excluded from the groups and the gap): baseline: n = 6"))

        // The posterior per group (5 classes, so top-3 hits are informative), on test splits only.
        let post = try #require(values.first { $0.key == "M" }?.value["top3_vs_outgroup"])
        #expect(post["samples"]?["mean"]?.doubleValue == 100_000)
        #expect((post["mean"]?["mean"]?.doubleValue ?? 0) < 0)   // M hits top-3 less often than F
        #expect(split["precision_macro"]?["mean"]?.doubleValue != nil && split["f1_macro"]?["per_seed"] != nil)

        // Misclassified by every seed: M rows 4–7 and the 6 rows without sex; not F rows 0, 1 (seed 1 only).
        let listed = try #require(tree["misclassified_by_every_seed"]?["variants"]?["baseline"])
        let testID = try #require(listed["test_id"])
        #expect(testID["count"]?.doubleValue == 10 && testID["n"]?.doubleValue == 22)
        #expect(testID["rows"] == .array((12...21).map { JSONValue.int($0) }))
        if case .array(let paths)? = testID["paths"] { #expect(paths.first == .string("img12.png")) }
        #expect(testID["by_group"]?["sex"] == .object([JSONMember("F", .int(0)), JSONMember("M", .int(4))]))
        let ood = try #require(listed["test_ood"])
        #expect(ood["count"]?.doubleValue == 105)
        if case .array(let r)? = ood["rows"] { #expect(r.count == EvaluateStage.misclassifiedCap) } else { Issue.record("rows") }
        #expect(tree["misclassified_by_every_seed"]?["seeds"]?.doubleValue == 2)
    }

    /// A radiology-like split: 3 conditions, sex and race (one row without race). by_group used to be empty.
    @Test func multiLabelGroupTablesForEveryAttribute() throws {
        var rng = RNG(seed: 4)
        var rows: [TableRow] = []
        var scores: [Float] = []
        for i in 0..<40 {
            let label: [Float] = (0..<3).map { c in Float((i + c) % 3 == 0 ? 1 : 0) }
            rows.append(TableRow(path: "x\(i).png", label: label, labelMask: [1, 1, i % 7 == 0 ? 0 : 1],
                                 attributes: [i % 2, i == 5 ? -1 : (i / 2) % 3], domain: -1, split: .testID))
            scores += label.map { $0 * 0.4 + Float(rng.uniformDouble()) * 0.6 }
        }
        let table = DatasetTable(labelKind: .multi, classes: ["edema", "effusion", "nodule"], attributes: ["sex", "race"],
                                 attributeValues: [["F", "M"], ["a", "b", "w"]], domainValues: [], rows: rows)
        let manifest = Manifest(name: "cxr", archive: "cxr.tar.gz", modality: .radiology, table: "t.csv", imageColumn: "p",
                                label: LabelSpec(kind: .multi, columns: table.classes, classes: table.classes),
                                attributes: ["sex", "race"])
        let d = IngestedDataset(manifest: manifest, table: table, images: [])
        let tree = try EvaluateStage.evaluate(d, config: Self.config(manifest, seeds: 1, mmd: false), predictions: [
            "baseline/seed0": Self.file([("scores.test_id", Tensor(shape: [40, 3], data: scores))]),
        ])
        let split = try #require(tree["variants"]?["baseline"]?["splits"]?["test_id"])
        for attribute in ["sex", "race"] {
            let t = try #require(split["by_group"]?[attribute], "by_group.\(attribute)")
            #expect(t["gap"]?["auc_macro"]?["mean"]?.doubleValue != nil)
            #expect(t["gap"]?["auc_per_class"]?["nodule"]?["mean"]?.doubleValue != nil)
            #expect(split["auc_parity"]?[attribute]?["edema"]?["gap"]?["mean"]?.doubleValue != nil)
        }
        // The group values agree with the Fairness function on the same rows.
        let raceValues: [String?] = rows.map { $0.attributes[1] >= 0 ? table.attributeValues[1][$0.attributes[1]] : nil }
        let direct = multiLabelGroupTable(
            attribute: "race", groups: raceValues, targets: rows.flatMap { $0.label.map { $0 > 0.5 ? 1 : 0 } },
            mask: rows.flatMap { $0.labelMask.map { $0 == 1 } },
            scores: ScoreMatrix(rows: 40, columns: 3, floats: scores), conditions: table.classes, expectedValues: ["a", "b", "w"])
        #expect(split["by_group"]?["race"]?["values"]?["w"]?["auc_macro"]?["mean"]?.doubleValue == direct["w"]?.aucMacro)
        #expect(split["by_group"]?["race"]?["missing_attribute"]?["n"]?["mean"]?.doubleValue == 1)
        #expect(tree["misclassified_by_every_seed"] == nil)   // single and soft labels only
    }

    /// Features for 3 hospitals spread over train / test_id / test_ood: MMD for every pair of splits and
    /// every pair of hospitals; the PCA component count per seed.
    @Test func mmdForEveryPairOfDomainsAndPCACount() throws {
        var rows: [TableRow] = []
        let splits: [Split] = [.train, .testID, .testOOD]
        for i in 0..<36 {
            var label = [Float](repeating: 0, count: 5); label[i % 5] = 1
            rows.append(TableRow(path: "x\(i).png", label: label, labelMask: [1, 1, 1, 1, 1], attributes: [i % 2],
                                 domain: i % 3, split: splits[(i / 3) % 3]))
        }
        let table = DatasetTable(labelKind: .single, classes: Self.classes, attributes: ["sex"], attributeValues: [["F", "M"]],
                                 domainValues: ["h1", "h2", "h3"], rows: rows)
        let d4 = 4
        // Seed 0: all variance along one axis (1 component holds 90 %); seed 1: two orthogonal ±1 axes of
        // equal variance (2 components). Hospitals are shifted so the domain pairs differ.
        func features(_ split: Split, seed: Int) -> Tensor {
            let rs = rows.indices.filter { rows[$0].split == split }
            var data: [Float] = []
            for (j, r) in rs.enumerated() {
                let t: Float = j % 2 == 0 ? 1 : -1, s: Float = (j / 2) % 2 == 0 ? 1 : -1
                let shift = Float(rows[r].domain) * 0.01
                data += seed == 0 ? [t * 3 + shift, shift * 0.1, 0, 0] : [t + shift, s, 0, 0]
            }
            return Tensor(shape: [rs.count, d4], data: data)
        }
        var predictions: [String: SafeTensorsFile] = [:]
        for seed in 0..<2 {
            var tensors: [(String, Tensor)] = []
            for split in splits { tensors.append(("features." + split.rawValue, features(split, seed: seed))) }
            for split in [Split.testID, .testOOD] {
                let n = rows.filter { $0.split == split }.count
                tensors.append(("scores." + split.rawValue, Tensor(shape: [n, 5], data: (0..<n).flatMap { _ in Self.oneHot(0) })))
            }
            predictions["baseline/seed\(seed)"] = Self.file(tensors)
        }
        let manifest = Self.singleLabelManifest()
        let d = IngestedDataset(manifest: manifest, table: table, images: [])
        let config = Self.config(manifest, seeds: 2, mmd: true)
        let tree = try EvaluateStage.evaluate(d, config: config, predictions: predictions)

        guard case .array(let pairs)? = tree["mmd"]?["pairs"] else { Issue.record("no mmd pairs"); return }
        func text(_ v: JSONValue?) -> String { if case .string(let s)? = v { return s } else { return "?" } }
        let names = pairs.map { "\(text($0["kind"])):\(text($0["a"]))-\(text($0["b"]))" }
        #expect(names == ["split:train-test_id", "split:train-test_ood", "split:test_id-test_ood",
                          "domain:h1-h2", "domain:h1-h3", "domain:h2-h3"])
        // A domain pair pools that hospital's rows of every feature split (seed 0's features).
        func pooled(_ domain: Int) -> FeatureSet {
            var values: [Float] = []
            for split in splits {
                let rs = rows.indices.filter { rows[$0].split == split }
                let t = features(split, seed: 0)
                for (j, r) in rs.enumerated() where rows[r].domain == domain { values += t.data[(j * d4)..<((j + 1) * d4)] }
            }
            return FeatureSet(rows: values.count / d4, dimension: d4, values: values)
        }
        let expected = mmdEstimates(pooled(0), pooled(2), sampleSize: config.evaluate.mmdSampleSize,
                                    repeats: config.evaluate.mmdRepeats, seed: 7)
        #expect(pairs[4]["mean"]?.doubleValue == expected.mean && pairs[4]["n"]?.doubleValue == 12)

        let pca = try #require(tree["representations"]?["variants"]?["baseline"])
        for split in splits {
            #expect(pca[split.rawValue]?["per_seed"] == .array([.number(1), .number(2)]), "\(split)")
        }
        #expect(tree["representations"]?["fraction"]?.doubleValue == 0.9)
    }
}
