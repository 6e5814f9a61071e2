import Foundation
import NN
import Tensors
import Diffusion
import Testing
@testable import Datasets
@testable import Pipeline

/// A single-label table: `counts[y][a]` training rows of class y with attribute value a, plus `extra` rows
/// of other splits (class 0, value 0).
private func table(counts: [[Int]], classes: [String] = ["a", "b"], values: [String] = ["dark", "light"],
                   extra: [Split: Int] = [:]) -> DatasetTable {
    var rows: [TableRow] = []
    func row(_ y: Int, _ a: Int, _ split: Split) -> TableRow {
        var label = [Float](repeating: 0, count: classes.count)
        label[y] = 1
        return TableRow(path: "x\(rows.count).png", label: label, labelMask: [UInt8](repeating: 1, count: classes.count),
                        attributes: [a], domain: -1, split: split)
    }
    for (y, perValue) in counts.enumerated() {
        for (a, n) in perValue.enumerated() { for _ in 0..<n { rows.append(row(y, a, .train)) } }
    }
    for (split, n) in extra.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
        for _ in 0..<n { rows.append(row(0, 0, split)) }
    }
    return DatasetTable(labelKind: .single, classes: classes, attributes: ["tone"], attributeValues: [values],
                        domainValues: [], rows: rows)
}

@Suite struct ChainConfigTests {
    static let manifestText = """
        name: derm
        archive: derm.tar.gz
        modality: dermatology
        table: t.csv
        image_column: path
        label: {kind: single, column: dx, classes: [a, b]}
        attributes: [tone]
        pipeline:
          base_resolution: 16
          final_resolution: 16
          ddpm: {steps: 7, cond: [label, tone]}
          mix: {alpha: [0.3, 1.0, 0.0]}
          classifier: {seeds: 4, baselines: [focal]}
        """

    @Test func manifestKeysWinOverTheProfile() throws {
        let m = try Manifest.parse(text: Self.manifestText, file: "derm.yaml")
        let c = ChainConfig.resolve(manifest: m, profile: .quick, threads: 2)
        #expect(c.ddpm.steps == 7 && c.ddpm.cond == ["label", "tone"] && c.ddpm.resolution == 16)
        #expect(c.upsampler == nil, "final = base: no cascade")
        #expect(c.classify.alphas == [0.3, 0.0], "α = 1 is the baseline, not a synthetic variant")
        #expect(c.classify.seeds == 4 && c.classify.baselines == ["none", "focal"])
        #expect(c.sample.attribute == "tone")
        #expect(c.variants.map(\.name) == ["baseline", "synthetic_a0.30", "synthetic_a0.00", "focal"])
        // Without the manifest's knobs the profile decides, and the cascade runs when final > base.
        let plain = try Manifest.parse(text: Self.manifestText.replacingOccurrences(of: "final_resolution: 16", with: "final_resolution: 32"),
                                       file: "derm.yaml")
        let d = ChainConfig.resolve(manifest: plain, profile: .default, threads: 1)
        #expect(d.upsampler?.from == 16 && d.upsampler?.to == 32)
        #expect(d.threads == 1)
        // CPU profiles balance the generator's draws over the fairness attribute; the paper profile and
        // `balance: none` do not.
        #expect(c.ddpm.balance == "tone" && d.ddpm.balance == "tone")
        #expect(ChainConfig.resolve(manifest: plain, profile: .paper, threads: 1).ddpm.balance == nil)
        let unbalanced = try Manifest.parse(text: Self.manifestText.replacingOccurrences(of: "cond: [label, tone]}",
                                                                                          with: "cond: [label, tone], balance: none}"),
                                            file: "derm.yaml")
        #expect(ChainConfig.resolve(manifest: unbalanced, profile: .default, threads: 1).ddpm.balance == nil)
    }
}

@Suite struct FairSamplePlanTests {
    /// Ktena et al.'s strategy: p̂(y) = p(y) of the training set, p̂(a) uniform within every class.
    @Test func keepsTheLabelDistributionAndMakesTheAttributeUniform() throws {
        let t = table(counts: [[6, 64], [4, 26]], extra: [.val: 10, .unlabeled: 5])   // 70 % a, 30 % b; 10 % dark
        let layout = try DiffusionStages.layout(t, cond: ["label", "tone"])
        var c = ChainConfig.Sample(strategy: "fair", attribute: "tone", perReal: 2, guidance: 1, sampler: "ddim",
                                   samplingSteps: 5, strength: 0.5, batch: 8, seed: 3)
        let plan = try FairSampleStage.makePlan(t, layout: layout, config: c)
        #expect(plan.count == 200)
        var counts: [String: Int] = [:]
        for p in plan {
            counts[p.label + "/" + p.attributes["tone"]!, default: 0] += 1
            // The conditioning vector says the same as the shard JSON will.
            let y = t.classes.firstIndex(of: p.label)!
            #expect(p.cond[y] == 1 && p.cond[1 - y] == 0)
            #expect(layout.attributeValue("tone", in: p.cond) == t.attributeValues[0].firstIndex(of: p.attributes["tone"]!))
        }
        #expect(counts == ["a/dark": 70, "a/light": 70, "b/dark": 30, "b/light": 30])
        // Same seed, same plan; another seed, another order.
        #expect(try FairSampleStage.makePlan(t, layout: layout, config: c).map(\.label) == plan.map(\.label))
        c.seed = 4
        #expect(try FairSampleStage.makePlan(t, layout: layout, config: c).map(\.label) != plan.map(\.label))
    }

    @Test func translatePicksSourcesFromTheMajorityOfTheSameClass() throws {
        let t = table(counts: [[2, 18], [3, 7]])
        let layout = try DiffusionStages.layout(t, cond: ["label", "tone"])
        let c = ChainConfig.Sample(strategy: "translate", attribute: "tone", perReal: 1, guidance: 1, sampler: "ddim",
                                   samplingSteps: 5, strength: 0.5, batch: 8, seed: 1)
        let plan = try FairSampleStage.makePlan(t, layout: layout, config: c)
        #expect(plan.count == 30)
        for p in plan {
            let source = t.rows[try #require(p.source)]
            #expect(t.classes[source.label.firstIndex(of: 1)!] == p.label)
            #expect(source.attributes[0] == 1, "light is the majority in both classes")
        }
    }

    @Test func unknownAttributeIsAClearError() throws {
        let t = table(counts: [[5, 5], [5, 5]])
        let layout = try DiffusionStages.layout(t, cond: ["label"])
        let c = ChainConfig.Sample(strategy: "fair", attribute: "tone", perReal: 1, guidance: 1, sampler: "ddim",
                                   samplingSteps: 5, strength: 0.5, batch: 8, seed: 1)
        #expect(throws: PipelineError.self) { try FairSampleStage.makePlan(t, layout: layout, config: c) }
        #expect(throws: PipelineError.self) { try DiffusionStages.layout(t, cond: ["label", "age"]) }
    }
}

@Suite struct EvaluateSelectionTests {
    /// Two synthetic variants: α = 0.25 is better on val, α = 0.50 on the test splits. The selection must
    /// follow val and never look at a test split.
    @Test func alphaIsChosenOnValidationOnly() throws {
        let t = table(counts: [[5, 5], [5, 5]], extra: [.val: 0])
        var rows = t.rows
        // val and test_id rows: 4 per class.
        for split in [Split.val, .testID] {
            for y in 0..<2 { for a in 0..<2 { for _ in 0..<2 {
                var label: [Float] = [0, 0]; label[y] = 1
                rows.append(TableRow(path: "v\(rows.count)", label: label, labelMask: [1, 1], attributes: [a], domain: -1, split: split))
            } } }
        }
        var full = t
        full.rows = rows
        let labels = { (split: Split) in full.rows.filter { $0.split == split }.map { $0.label[1] == 1 ? 1 : 0 } }
        func scores(_ split: Split, correct: Bool) -> Tensor {
            let y = labels(split)
            return Tensor(shape: [y.count, 2], data: y.flatMap { l in (l == 1) == correct ? [0.2, 0.8] : [0.8, 0.2] })
        }
        func predictions(val: Bool, test: Bool) -> SafeTensorsFile {
            let bytes = SafeTensors.encode([("scores.val", scores(.val, correct: val)), ("scores.test_id", scores(.testID, correct: test))])
            return try! SafeTensors.decode(bytes)
        }
        let manifest = Manifest(name: "derm", archive: "derm.tar.gz", modality: .dermatology, table: "t.csv", imageColumn: "p",
                                label: LabelSpec(kind: .single, column: "dx", classes: ["a", "b"]), attributes: ["tone"])
        var config = ChainConfig.resolve(manifest: manifest, profile: .quick, threads: 1)
        config.classify.alphas = [0.5, 0.25]
        config.classify.baselines = ["none"]
        config.classify.seeds = 1
        config.evaluate.mmd = false
        let d = IngestedDataset(manifest: manifest, table: full, images: [])
        let tree = try EvaluateStage.evaluate(d, config: config, predictions: [
            "baseline/seed0": predictions(val: true, test: true),
            "synthetic_a0.50/seed0": predictions(val: false, test: true),
            "synthetic_a0.25/seed0": predictions(val: true, test: false),
        ])
        let summary = try MetricsSummary(fairness: tree)
        #expect(summary.selectedAlpha == 0.25)
        #expect(summary.selection == "val worst-group accuracy among synthetic variants within 0.01 of the baseline's val accuracy")
        // The other rule follows val too.
        config.evaluate.selection = .balancedAccuracy
        let byBalanced = try MetricsSummary(fairness: EvaluateStage.evaluate(d, config: config, predictions: [
            "baseline/seed0": predictions(val: true, test: true),
            "synthetic_a0.50/seed0": predictions(val: false, test: true),
            "synthetic_a0.25/seed0": predictions(val: true, test: false),
        ]))
        #expect(byBalanced.selectedAlpha == 0.25 && byBalanced.selection == "val balanced accuracy")
        #expect(summary.variant("synthetic_a0.25")?.splits["test_id"]?.accuracy?.mean == 0)
        #expect(summary.variant("baseline")?.splits["test_id"]?.groups.first?.values.map(\.value) == ["dark", "light"])
        // metrics.json gets the run's version without disturbing the rest.
        let bytes = try Chain.withVersion(Array(tree.serialized(indent: 2).utf8), version: 7)
        let withVersion = try MetricsSummary(json: bytes)
        #expect(withVersion.version == 7 && withVersion.selectedAlpha == 0.25)
    }
}

@Suite struct DemoDropTests {
    @Test func demoDropIsDeterministicAndIngests() throws {
        let a = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-demo-\(UUID().uuidString)")
        let b = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: a); try? FileManager.default.removeItem(at: b) }
        var spec = DemoData.Spec()
        spec.train = 40; spec.val = 12; spec.testID = 12; spec.testOOD = 12; spec.unlabeled = 8
        let manifest = try DemoDrop.write(into: a, spec: spec)
        try DemoDrop.write(into: b, spec: spec)
        let archiveA = try Data(contentsOf: a.appendingPathComponent("derm-demo.tar.gz"))
        #expect(archiveA == (try Data(contentsOf: b.appendingPathComponent("derm-demo.tar.gz"))))
        #expect(try FileManager.default.contentsOfDirectory(atPath: a.path).sorted() == ["derm-demo.tar.gz", "derm-demo.yaml"])
        let d = try ingestDrop(manifestPath: manifest, resolutions: [16, 32])
        #expect(d.table.rows.count == 84)
        #expect(d.table.rows.filter { $0.split == .unlabeled }.allSatisfy { !$0.isLabeled })
        #expect(d.table.attributes == ["skin_tone", "sex"] && d.table.attributeValues[0] == ["dark", "light", "medium"])
        #expect(d.images(at: 32)?.count == 84 && d.images(at: 16)?.channels == 3)
        #expect(GridCollector.fileSafe("a/b c") == "a_b_c" && GridCollector.fileSafe(".x") == "_.x")

        // A manifest that changes only a training knob gives the same dataset object (so the DDPM is
        // reused); one that changes a resolution does not.
        let archive = a.appendingPathComponent("derm-demo.tar.gz").path
        let base = try Manifest.parse(text: DemoDrop.manifest, file: "derm-demo.yaml")
        let knob = try Manifest.parse(text: DemoDrop.manifest + "  sample: {guidance: 3}\n", file: "derm-demo.yaml")
        let res = try Manifest.parse(text: DemoDrop.manifest.replacingOccurrences(of: "final_resolution: 32", with: "final_resolution: 48"),
                                     file: "derm-demo.yaml")
        #expect(knob.pipeline.sample?.guidance == 3)
        let limits = IngestLimits()
        let object = try IngestStage.datasetObject(manifest: base, archivePath: archive, limits: limits).encode()
        #expect(try IngestStage.datasetObject(manifest: knob, archivePath: archive, limits: limits).encode() == object)
        #expect(try IngestStage.datasetObject(manifest: res, archivePath: archive, limits: limits).encode() != object)
    }
}

@Suite struct GeneratorBalanceTests {
    /// `ddpm.balance`: the generator's draws make every (class, attribute value) cell as frequent as the
    /// largest, unlabeled rows being one more class — the distribution fair-sample later asks for.
    @Test func everyClassAttributeCellIsDrawnEquallyOften() throws {
        var t = table(counts: [[2, 6], [1, 3]], extra: [.unlabeled: 2])
        for r in t.rows.indices where t.rows[r].split == .unlabeled {
            t.rows[r].label = [0, 0]; t.rows[r].labelMask = [0, 0]; t.rows[r].attributes = [1]
        }
        t.rows.append(TableRow(path: "val.png", label: [1, 0], labelMask: [1, 1], attributes: [0], domain: -1, split: .val))
        let rows = DiffusionStages.generativeRows(t)
        #expect(rows.count == 14, "train + unlabeled, never val")
        let groups = DiffusionStages.balanceGroups(t, rows: rows, attribute: 0)
        #expect(Set(groups).count == 5, "a/dark, a/light, b/dark, b/light, unlabeled/light")
        let mapping = ResampledTrainingSet.balancedMapping(groups: groups)
        var cells: [String: Int] = [:]
        for i in mapping {
            let row = t.rows[rows[i]]
            let cls = row.isLabeled ? t.classes[row.label[0] == 1 ? 0 : 1] : "unlabeled"
            cells[cls + "/" + t.attributeValues[0][row.attributes[0]], default: 0] += 1
        }
        #expect(cells == ["a/dark": 6, "a/light": 6, "b/dark": 6, "b/light": 6, "unlabeled/light": 6])
    }
}
