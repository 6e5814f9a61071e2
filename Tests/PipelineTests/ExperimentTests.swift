import Foundation
import Logging
import Store
import Testing
@testable import Datasets
@testable import Pipeline

/// Experiments (docs/experiments.md): the fan-out of levels into chain runs, the training subsets, the
/// refusal of a level that leaves the generator no minority row, and every sweep kind end to end on a tiny
/// drop with the quick profile, including the resume of an interrupted sweep.
enum ExperimentFixture {
    /// The demo drop, small, with enough dark-tone rows that a tenth of them is still a row.
    static var spec: DemoData.Spec {
        var s = DemoData.Spec()
        s.train = 60; s.val = 16; s.testID = 18; s.testOOD = 18; s.unlabeled = 30
        s.trainToneMix = [0.6, 0.25, 0.15]
        return s
    }

    /// The demo manifest cut to seconds per run: no upsampler, a short generator, one epoch, two seeds (so the
    /// sweep has error bars).
    static let manifest = """
        name: derm-demo
        archive: derm-demo.tar.gz
        modality: dermatology
        table: table.csv
        image_column: path
        label: {kind: single, column: diagnosis, classes: [nevus, melanoma, eczema, psoriasis]}
        attributes: [skin_tone, sex]
        split_column: split
        high_risk: [melanoma]
        pipeline:
          base_resolution: 16
          final_resolution: 16
          ddpm: {cond: [label, skin_tone], steps: 12, batch: 8}
          sample: {sampling_steps: 5}
          classifier: {epochs: 1, batch: 16, seeds: 2, baselines: [none]}
          evaluate: {mmd: false}

        """

    /// Writes the drop with `experiment` appended to the manifest; returns the manifest's path.
    static func drop(_ dir: URL, experiment: String) throws -> String {
        let path = try DemoDrop.write(into: dir, spec: spec)
        try Data((manifest + experiment).utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func options(stop: @escaping () -> Bool = { false }, onEvent: @escaping (ProgressEvent) -> Void = { _ in }) -> Chain.Options {
        Chain.Options(profile: .quick, threads: 2, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                      progressInterval: 1000, shouldStop: stop, onEvent: onEvent)
    }

    static func key(_ store: Store, _ version: Int, _ stage: String) throws -> String? {
        try store.runRecord(dataset: "derm-demo", version: version).stages[stage]?.key
    }

    static func output(_ store: Store, _ version: Int, _ stage: String) throws -> ObjectID? {
        try store.runRecord(dataset: "derm-demo", version: version).stages[stage]?.outputs[Store.singleOutputName]
    }
}

@Suite struct ExperimentFanOutTests {
    func manifest(_ block: String) throws -> Manifest {
        try Manifest.parse(text: ExperimentFixture.manifest + block, file: "derm-demo.yaml")
    }

    @Test func levelsBecomeRequestsThatDifferOnlyWhereTheLevelDoes() throws {
        let skew = try manifest("experiment: {kind: skew, levels: [0, 0.5, 0.9]}\n")
        let base = ChainConfig.resolve(manifest: skew, profile: .quick, threads: 2)
        let levels = Experiment.levels(skew.experiment!, manifest: skew)
        #expect(levels.map(\.label) == ["0.00", "0.50", "0.90"])
        #expect(levels.map { $0.subset?.keep } == [1, 0.5, 0.09999999999999998])
        #expect(levels.allSatisfy { $0.subset?.attribute == "skin_tone" && $0.subset?.includeUnlabeled == false })
        // Skew changes the rows, not the configuration: every stage's key changes through its dataset input.
        #expect(levels.allSatisfy { $0.apply(to: base) == base })
        let dataset = ObjectID(String(repeating: "07", count: 32))!
        let keys = try levels.map { try $0.subset!.stage(dataset: dataset).key() }
        #expect(Set(keys).count == 3)
        #expect(try Experiment.levels(skew.experiment!, manifest: skew)[1].subset!.stage(dataset: dataset).key() == keys[1])

        let ratio = try manifest("experiment: {kind: ratio, levels: [1, 10]}\n")
        let r = Experiment.levels(ratio.experiment!, manifest: ratio)
        #expect(r.map(\.label) == ["1:1", "10:1"] && r.allSatisfy { $0.subset == nil })
        let c10 = r[1].apply(to: base)
        #expect(c10.sample.perReal == 10 && c10.classify.alphas.contains(0) && c10.classify.alphas.contains(0.5))
        // Generator slice unchanged (shared), sampling slice changed.
        #expect(c10.ddpm == base.ddpm && c10.sample != base.sample)
        #expect(c10.variants.contains(.synthetic(alpha: 0)))

        let le = try manifest("experiment: {kind: label_efficiency, levels: [0.1, 1]}\n")
        #expect(Experiment.levels(le.experiment!, manifest: le).map { $0.subset?.kind } == [.labelEfficiency, .labelEfficiency])

        let tr = try manifest("experiment: {kind: translation, scenarios: [some, few]}\n")
        let t = Experiment.levels(tr.experiment!, manifest: tr)
        #expect(t.map(\.label) == ["some", "few"] && t.map { $0.subset?.keep } == [1, ExperimentSpec.fewFraction])
        #expect(t.allSatisfy { $0.apply(to: base).sample.strategy == "translate" && $0.subset?.includeUnlabeled == true })
    }

    @Test func subsetsTouchOnlyTrainingRows() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-exp-subset-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try ExperimentFixture.drop(dir, experiment: "")
        let d = try ingestDrop(manifestPath: path, resolutions: [16])
        let tone = d.table.attributes.firstIndex(of: "skin_tone")!
        let dark = d.table.attributeValues[tone].firstIndex(of: "dark")!
        func count(_ t: DatasetTable, _ split: Split, dark only: Bool = true) -> Int {
            t.rows.filter { $0.split == split && (!only || $0.attributes[tone] == dark) }.count
        }
        let heldOut: (DatasetTable) -> [TableRow] = { t in t.rows.filter { [.val, .testID, .testOOD].contains($0.split) } }

        let half = try #require(try TrainingSubset(kind: .skew, keep: 0.5, attribute: "skin_tone", seed: 0).apply(to: d))
        #expect(count(half.table, .train) == count(d.table, .train) / 2)
        #expect(count(half.table, .train, dark: false) - count(half.table, .train) == count(d.table, .train, dark: false) - count(d.table, .train))
        #expect(count(half.table, .unlabeled) == count(d.table, .unlabeled), "skew leaves the unlabeled rows")
        #expect(heldOut(half.table) == heldOut(d.table))
        #expect(half.images[0].count == half.table.rows.count)
        // The images follow their rows.
        let row = half.table.rows.last!
        let original = d.table.rows.firstIndex(of: row)!
        #expect(half.images[0].image(half.table.rows.count - 1) == d.images[0].image(original))
        #expect(try TrainingSubset(kind: .skew, keep: 1, attribute: "skin_tone", seed: 0).apply(to: d) == nil)

        let source = try #require(try TrainingSubset(kind: .skew, keep: 0.5, attribute: "skin_tone", includeUnlabeled: true, seed: 0).apply(to: d))
        #expect(count(source.table, .unlabeled) == count(d.table, .unlabeled) / 2)

        let labeled = try #require(try TrainingSubset(kind: .labelEfficiency, keep: 0.25, attribute: "skin_tone", seed: 0).apply(to: d))
        #expect(labeled.table.rows.count == d.table.rows.count && heldOut(labeled.table) == heldOut(d.table))
        let train = count(d.table, .train, dark: false)
        let stillLabeled = count(labeled.table, .train, dark: false)
        #expect(stillLabeled < train / 2 && stillLabeled >= 3, "≈ a quarter per tone group, at least one each")
        #expect(count(labeled.table, .unlabeled, dark: false) == count(d.table, .unlabeled, dark: false) + train - stillLabeled)
        #expect(labeled.table.rows.filter { $0.split == .unlabeled }.allSatisfy { !$0.isLabeled && $0.label.allSatisfy { $0 == 0 } })
        #expect(try TrainingSubset(kind: .labelEfficiency, keep: 1, attribute: "skin_tone", seed: 0).apply(to: d) == nil)
    }

    @Test func aLevelLeavingTheGeneratorNoMinorityRowIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-exp-none-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try ExperimentFixture.drop(dir, experiment: "experiment: {kind: translation, scenarios: [some, few]}\n")
        let m = try Manifest.load(path: path)
        let d = try ingestDrop(manifestPath: path, resolutions: [16])
        let base = ChainConfig.resolve(manifest: m, profile: .quick, threads: 2)
        var levels = Experiment.levels(m.experiment!, manifest: m)
        let projection = try Experiment.project(levels, base: base, dataset: d)
        #expect(projection.perLevel.count == 2 && projection.perLevel.allSatisfy { $0 > 0 })
        #expect(projection.summary.hasPrefix("projected sweep time (estimate, if nothing is cached): ~"))
        // Built in code (the manifest refuses "none"), a level keeping no minority row is still refused.
        levels[1].subset!.keep = 0
        levels[1].label = "none"
        #expect {
            try Experiment.project(levels, base: base, dataset: d)
        } throws: { error in
            "\(error)".contains("level none: no train or unlabeled row with skin_tone = dark is left") && "\(error)".contains("meaningless")
        }
    }

    @Test func projectionCountsSharedStagesOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-exp-proj-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try ExperimentFixture.drop(dir, experiment: "experiment: {kind: ratio, levels: [1, 2]}\n")
        let m = try Manifest.load(path: path)
        let d = try ingestDrop(manifestPath: path, resolutions: [16])
        let base = ChainConfig.resolve(manifest: m, profile: .quick, threads: 2)
        let levels = Experiment.levels(m.experiment!, manifest: m)
        let p = try Experiment.project(levels, base: base, dataset: d)
        let rows = d.table.rows.filter { $0.split == .train && $0.isLabeled }.count
        let second = RunEstimate(config: levels[1].apply(to: base), trainRows: rows, rows: d.table.rows.count, cells: 6)
        let ddpm = second.stages.first { $0.name == "train-ddpm" }!.seconds
        let sum = second.stages.reduce(0) { $0 + $1.seconds }
        // Level 2 reuses the generator (and the baseline's classifiers), so it adds less than a full run.
        #expect(p.perLevel[1] < sum - ddpm + 1e-9)
        #expect(p.perLevel[0] > p.perLevel[1] - second.stages.first { $0.name == "fair-sample" }!.seconds)
    }
}

/// Every sweep kind end to end on the tiny drop (quick profile); serialized: they share the machine's cores.
@Suite(.serialized) struct ExperimentSweepTests {
    func tempStore(_ tag: String) throws -> (URL, Store) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-exp-\(tag)-\(UUID().uuidString)")
        return (url, try Store.open(at: url.appendingPathComponent("store"), create: true))
    }

    func number(_ v: JSONValue?) -> Double? { if case .number(let d)? = v { return d } else { return nil } }

    func sweep(_ store: Store) throws -> JSONValue {
        let dir = store.experimentDirectory(dataset: "derm-demo", experiment: try store.experiments(of: "derm-demo").first!)
        return try JSONValue.parse(Array(Data(contentsOf: dir.appendingPathComponent("sweep.json"))))
    }

    @Test func skewSweepInterruptedResumesWithFinishedLevelsCached() throws {
        let (url, store) = try tempStore("skew")
        defer { try? FileManager.default.removeItem(at: url) }
        let path = try ExperimentFixture.drop(url.appendingPathComponent("inbox"), experiment: "experiment: {kind: skew, levels: [0, 0.5]}\n")
        // Stop as the second level's generator starts training.
        final class Counter: @unchecked Sendable { var ddpmStarts = 0 }
        let counter = Counter()
        var lines: [String] = []
        let interrupted = ExperimentFixture.options(stop: { counter.ddpmStarts >= 2 }) { event in
            if case .stageStarted(let stage, _, _) = event, stage == "train-ddpm" { counter.ddpmStarts += 1 }
        }
        #expect(throws: StageInterrupted.self) {
            _ = try Experiment.run(manifestPath: path, store: store, options: interrupted) { lines.append($0) }
        }
        #expect(lines.first?.contains("projected sweep time") == true)
        #expect(lines.contains { $0.contains("level 2/2 (0.50) — elapsed") && $0.contains("ETA") })
        #expect(try store.experiments(of: "derm-demo").isEmpty, "no sweep result before every level finished")

        let result = try Experiment.run(manifestPath: path, store: store, options: ExperimentFixture.options())
        #expect(result.levels.count == 2)
        #expect(result.levels[0].chain.ranStages.isEmpty, "the finished level is all cached: \(result.levels[0].chain.ranStages)")
        #expect(result.levels[0].chain.cachedStages.contains("train-ddpm"))
        #expect(result.levels[1].chain.ranStages.contains("train-ddpm"))
        let v0 = result.levels[0].chain.version, v1 = result.levels[1].chain.version
        // Shared: ingest. Level 0 removes nothing, so its derived dataset is the ingested one.
        #expect(try ExperimentFixture.key(store, v0, "ingest") == ExperimentFixture.key(store, v1, "ingest"))
        #expect(try ExperimentFixture.output(store, v0, "experiment-subset") == ExperimentFixture.output(store, v0, "ingest"))
        #expect(try ExperimentFixture.output(store, v1, "experiment-subset") != ExperimentFixture.output(store, v0, "ingest"))
        for stage in ["experiment-subset", "train-ddpm", "fair-sample", "evaluate"] {
            #expect(try ExperimentFixture.key(store, v0, stage) != ExperimentFixture.key(store, v1, stage), "\(stage)")
        }
        let record = try store.runRecord(dataset: "derm-demo", version: v1)
        #expect(record.config["experiment"]?["label"] == .string("0.50"))

        let json = try sweep(store)
        #expect(json["kind"] == .string("skew") && json["attribute"] == .string("skin_tone") && json["profile"] == .string("quick"))
        guard case .array(let levels)? = json["levels"] else { Issue.record("no levels"); return }
        #expect(levels.map { $0["level"] } == [.number(0), .number(0.5)])
        #expect(levels[1]["version"] == .number(Double(v1)))
        let acc = levels[0]["plotted"]?["test_id"]?["baseline"]?["accuracy"]
        #expect(number(acc?["mean"]) != nil && number(acc?["std"]) != nil, "two seeds give a std")
        // The variants are metrics.json's, as filed in that level's version.
        let metrics = try JSONValue.parse(Array(Data(contentsOf: result.levels[1].chain.runDirectory.appendingPathComponent("metrics.json"))))
        #expect(levels[1]["variants"] == metrics["variants"])
        #expect(levels[1]["comparisons"]?["test_ood"]?["synthetic_a0.50-baseline"]?["verdict"] != nil)
        let html = try String(contentsOf: result.directory.appendingPathComponent("sweep.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("worst-group accuracy") && !html.contains("<script"))
        #expect(try store.verify().ok, "the experiments folder is part of a valid store")
    }

    @Test func ratioSweepSharesTheGeneratorAndAddsSyntheticOnly() throws {
        let (url, store) = try tempStore("ratio")
        defer { try? FileManager.default.removeItem(at: url) }
        let path = try ExperimentFixture.drop(url.appendingPathComponent("inbox"), experiment: "experiment: {kind: ratio, levels: [0.5, 1]}\n")
        let result = try Experiment.run(manifestPath: path, store: store, options: ExperimentFixture.options())
        let v0 = result.levels[0].chain.version, v1 = result.levels[1].chain.version
        #expect(try ExperimentFixture.key(store, v0, "train-ddpm") == ExperimentFixture.key(store, v1, "train-ddpm"))
        #expect(result.levels[1].chain.cachedStages.contains("train-ddpm"))
        #expect(try ExperimentFixture.key(store, v0, "fair-sample") != ExperimentFixture.key(store, v1, "fair-sample"))
        #expect(result.levels[1].chain.metrics.variant("synthetic_a0.00") != nil, "without real data")
        #expect(result.levels[1].chain.metrics.variant("synthetic_a0.50") != nil, "with real data")
        #expect(result.report.variants.contains("synthetic_a0.00"))
        #expect(try sweep(store)["levels"].map { if case .array(let a) = $0 { return a.count } else { return 0 } } == 2)
    }

    @Test func labelEfficiencySweepRetrainsOnFewerLabels() throws {
        let (url, store) = try tempStore("le")
        defer { try? FileManager.default.removeItem(at: url) }
        let path = try ExperimentFixture.drop(url.appendingPathComponent("inbox"),
                                              experiment: "experiment: {kind: label_efficiency, levels: [0.5, 1]}\n")
        let result = try Experiment.run(manifestPath: path, store: store, options: ExperimentFixture.options())
        let v0 = result.levels[0].chain.version, v1 = result.levels[1].chain.version
        #expect(try ExperimentFixture.output(store, v1, "experiment-subset") == ExperimentFixture.output(store, v1, "ingest"))
        #expect(try ExperimentFixture.key(store, v0, "train-ddpm") != ExperimentFixture.key(store, v1, "train-ddpm"))
        let half = try DatasetObject.decode(store.objects.read(try #require(try ExperimentFixture.output(store, v0, "experiment-subset"))))
        let full = try DatasetObject.decode(store.objects.read(try #require(try ExperimentFixture.output(store, v1, "ingest"))))
        #expect(half.table.rows.filter { $0.split == .train }.count < full.table.rows.filter { $0.split == .train }.count)
        #expect(half.table.rows.count == full.table.rows.count)
        #expect(try store.experiments(of: "derm-demo") == ["label-efficiency"])
    }

    @Test func translationSweepRunsImg2ImgPerScenario() throws {
        let (url, store) = try tempStore("tr")
        defer { try? FileManager.default.removeItem(at: url) }
        let path = try ExperimentFixture.drop(url.appendingPathComponent("inbox"),
                                              experiment: "experiment: {kind: translation, scenarios: [some, few], id: wang}\n")
        let result = try Experiment.run(manifestPath: path, store: store, options: ExperimentFixture.options())
        let v0 = result.levels[0].chain.version, v1 = result.levels[1].chain.version
        let config = try store.runRecord(dataset: "derm-demo", version: v1).config
        #expect(config["sample"]?["strategy"] == .string("translate"))
        #expect(try ExperimentFixture.key(store, v0, "train-ddpm") != ExperimentFixture.key(store, v1, "train-ddpm"))
        #expect(result.report.levels.map(\.level.label) == ["some", "few"])
        #expect(try store.experiments(of: "derm-demo") == ["wang"])
    }
}
