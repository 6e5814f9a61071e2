import Classifier
@testable import Datasets
import Diffusion
import Foundation
import Store
import Tensors
import Testing
@testable import Pipeline

/// Issue 13, "labels and resolutions as the paper defines them": how labels reach the generator and the
/// classifier, the DDPM's mirroring, and the `paper` profile's per-modality presets.
@Suite struct PaperConventionTests {
    static func radiology(_ pipeline: String = "") -> String {
        """
        name: cxr
        archive: cxr.tar.gz
        modality: radiology
        table: labels.csv
        image_column: path
        label: {kind: multi, columns: [atelectasis, edema]}
        attributes: [sex]
        split_column: split

        """ + pipeline
    }

    static let radiologyCSV = Array("""
        path,atelectasis,edema,sex,split
        a.png,,1,F,train
        b.png,-1,0,M,train
        c.png,1,,F,train
        d.png,0,-1,M,val

        """.utf8)

    static func radiologyTable(_ pipeline: String = "") throws -> (Manifest, DatasetTable) {
        let m = try Manifest.parse(text: radiology(pipeline), file: "cxr.yaml")
        return (m, try DatasetTable.parse(radiologyCSV, manifest: m, file: "cxr.tar.gz"))
    }

    /// A dataset object of `table` with blank images at `resolutions` (1 channel).
    static func dataset(_ m: Manifest, _ table: DatasetTable, resolutions: [Int]) -> IngestedDataset {
        IngestedDataset(manifest: m, table: table, images: resolutions.map {
            ImageSet(resolution: $0, channels: 1, count: table.rows.count,
                     pixels: [UInt8](repeating: 128, count: table.rows.count * $0 * $0))
        })
    }

    // MARK: - uncertain labels (CheXpert)

    /// An uncertain (−1) entry conditions the generator (0.5 in the label block) but is masked in the
    /// classifier's targets; a blank radiology cell is a known negative for both.
    @Test func uncertainEntriesConditionTheGeneratorButNotTheClassifier() throws {
        let (m, t) = try Self.radiologyTable()
        let layout = try DiffusionStages.layout(t, cond: ["label", "sex"])
        #expect(DiffusionStages.condVector(t.rows[1], table: t, layout: layout) == [0.5, 0, 0, 1], "b.png: -1, 0, M")
        #expect(DiffusionStages.condVector(t.rows[0], table: t, layout: layout) == [0, 1, 1, 0], "a.png: blank = 0, 1, F")
        guard case .multi(let values, let mask, _) = ClassifyStage.targets(t, rows: [0, 1, 2]) else {
            Issue.record("multi-label table gave non-multi targets"); return
        }
        #expect(mask == [1, 1, 0, 1, 1, 1], "only b.png's uncertain atelectasis is out of the loss")
        #expect(values == [0, 1, 0, 0, 1, 0])
        // And it reaches the generator's training batches.
        let config = ChainConfig.resolve(manifest: m, profile: .quick, threads: 1)
        let d = Self.dataset(m, t, resolutions: [config.ddpm.resolution])
        let set = try DiffusionStages.ddpmTrainingSet(d, config: config.ddpm, layout: try DiffusionStages.layout(t, cond: config.ddpm.cond))
        #expect(Array(set.cond.data[0..<2]) == [0, 1] && Array(set.cond.data[set.cond.shape[1]..<(set.cond.shape[1] + 2)]) == [0.5, 0])
    }

    // MARK: - synthetic targets

    static func softTable() -> DatasetTable {
        let labels: [[Float]] = [[0.5, 1.0 / 6, 1.0 / 3], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.6, 0.4, 0]]
        let rows = labels.enumerated().map { i, l in
            TableRow(path: "\(i).png", label: l, labelMask: [1, 1, 1], attributes: [i % 2], domain: -1, split: .train)
        }
        return DatasetTable(labelKind: .soft, classes: ["a", "b", "c"], attributes: ["tone"], attributeValues: [["dark", "light"]],
                            domainValues: [], rows: rows)
    }

    static let sampleConfig = ChainConfig.Sample(strategy: "fair", attribute: "tone", perReal: 3, guidance: 1, sampler: "ddim",
                                                 samplingSteps: 10, strength: 0.5, batch: 4, seed: 3)

    /// A synthetic image generated under a soft label keeps that soft vector as its classifier target, through
    /// the shard's JSON and back into the classifier's targets (it used to collapse to the one-hot of the label).
    @Test func syntheticSoftLabelsKeepTheirVector() throws {
        let t = Self.softTable()
        let layout = try DiffusionStages.layout(t, cond: ["label", "tone"])
        let plan = try FairSampleStage.makePlan(t, layout: layout, config: Self.sampleConfig)
        #expect(plan.count == 12)
        for p in plan {
            let target = try #require(p.target)
            #expect(Array(p.cond[0..<3]) == target, "the target is the vector the image was conditioned on")
            #expect(t.rows.contains { $0.label == target } && target.filter { $0 > 0 }.count >= 2)
            #expect(t.classes[target.indices.max { target[$0] < target[$1] }!] == p.label)
        }
        let tmp = try PipelineTempStore()
        defer { tmp.remove() }
        let png = try PNGCodec.encode(Tensor(zeros: [1, 4, 4]))
        let writer = ShardWriter(store: tmp.store, directory: tmp.url.appendingPathComponent("tmp/shards"))
        for (i, p) in plan.prefix(2).enumerated() {
            try writer.append(SyntheticSample(index: i, png: png, label: p.label, attributes: p.attributes, seed: 3,
                                              guidance: 1, strategy: "fair", target: p.target, unknown: p.unknown))
        }
        let samples = try ShardReader.read(writer.finish(), store: tmp.store)
        #expect(samples.map(\.target) == plan.prefix(2).map(\.target), "exact round trip through JSON")
        let images = try ClassifyStage.syntheticImages(samples, table: t, channels: 1, resolution: 4)
        guard case .soft(let p, 3) = images.targets else { Issue.record("not soft targets"); return }
        for (i, s) in samples.enumerated() {
            let want = s.target!, sum = want.reduce(0, +)
            #expect(zip(p[(i * 3)..<(i * 3 + 3)], want).allSatisfy { abs($0 - $1 / sum) < 1e-6 }, "\(p) vs \(want)")
        }
        // A shard written before targets existed still reads, as the label's one-hot.
        var old = samples[0]
        old.target = nil
        guard case .soft(let q, 3) = try ClassifyStage.syntheticImages([old], table: t, channels: 1, resolution: 4).targets else { return }
        #expect(q == (0..<3).map { t.classes[$0] == old.label ? 1 : 0 })
    }

    /// Multi-label synthetic images carry their template's known 0/1 entries, and the template's uncertain
    /// entries stay out of the loss (they used to be trained on as negatives).
    @Test func syntheticMultiLabelTargetsKeepTheMask() throws {
        let (_, t) = try Self.radiologyTable()
        var config = Self.sampleConfig
        config.attribute = "sex"
        let layout = try DiffusionStages.layout(t, cond: ["label", "sex"])
        let plan = try FairSampleStage.makePlan(t, layout: layout, config: config)
        #expect(!plan.isEmpty)
        for p in plan {
            let target = try #require(p.target)
            let template = try #require(t.rows.first { r in zip(r.label, r.labelMask).map { $1 == 1 ? $0 : 0 } == target
                && r.labelMask.indices.filter { r.labelMask[$0] == 0 } == p.unknown })
            #expect(Array(p.cond[0..<2]) == template.label)
        }
        let uncertain = try #require(plan.first { $0.unknown == [0] }, "b.png (uncertain atelectasis) is drawn among 9")
        let sample = SyntheticSample(index: 0, png: try PNGCodec.encode(Tensor(zeros: [1, 4, 4])), label: uncertain.label,
                                     attributes: uncertain.attributes, seed: 3, guidance: 1, strategy: "fair",
                                     target: uncertain.target, unknown: uncertain.unknown)
        guard case .multi(let v, let m, 2) = try ClassifyStage.syntheticImages([sample], table: t, channels: 1, resolution: 4).targets else {
            Issue.record("not multi targets"); return
        }
        #expect(v == [0, 0] && m == [0, 1])
    }

    // MARK: - horizontal flip

    /// `pipeline.ddpm.hflip`: off by default for radiology (laterality), on elsewhere; the manifest wins; the
    /// value reaches both generators' training sets and the stage keys.
    @Test func hflipDefaultsAndReachesTheTrainingSets() throws {
        let (m, t) = try Self.radiologyTable("pipeline: {base_resolution: 8, final_resolution: 12}\n")
        let c = ChainConfig.resolve(manifest: m, profile: .default, threads: 1)
        #expect(c.ddpm.hflip == false)
        var derm = m
        derm.modality = .dermatology
        #expect(ChainConfig.resolve(manifest: derm, profile: .default, threads: 1).ddpm.hflip == true)
        let (on, _) = try Self.radiologyTable("pipeline: {base_resolution: 8, final_resolution: 12, ddpm: {hflip: true}}\n")
        let flipped = ChainConfig.resolve(manifest: on, profile: .paper, threads: 1)
        #expect(flipped.ddpm.hflip == true)

        let d = Self.dataset(m, t, resolutions: [8, 12])
        let layout = try DiffusionStages.layout(t, cond: c.ddpm.cond)
        #expect(try DiffusionStages.ddpmTrainingSet(d, config: c.ddpm, layout: layout).horizontalFlip == false)
        #expect(try DiffusionStages.ddpmTrainingSet(d, config: flipped.ddpm, layout: layout).horizontalFlip == true)
        let up = try DiffusionStages.upsamplerTrainingSet(d, config: c, layout: layout)
        #expect(up.horizontalFlip == false)
        #expect(try DiffusionStages.upsamplerTrainingSet(d, config: flipped, layout: layout).horizontalFlip == true)
        // 8 → 12 (×1.5): the upsampler's inputs are built on the final grid.
        var rng = RNG(seed: 1)
        #expect(up.batch(indices: [0, 1], rng: &rng).lowRes?.shape == [2, 1, 12, 12])
        // A different flag is a different generator: both training stages' keys change.
        var other = c
        other.ddpm.hflip = true
        let id = ObjectID(String(repeating: "ab", count: 32))!
        #expect(try DiffusionStages.trainDDPM(config: c, dataset: id).key() != DiffusionStages.trainDDPM(config: other, dataset: id).key())
        #expect(try DiffusionStages.trainUpsampler(config: c, dataset: id).key() != DiffusionStages.trainUpsampler(config: other, dataset: id).key())
    }

    // MARK: - paper presets

    static let histopathology = """
        name: camelyon
        archive: c.tar.gz
        modality: histopathology
        table: t.csv
        image_column: path
        label: {kind: single, column: dx, classes: [normal, tumor]}
        domain_column: hospital

        """
    static let dermatology = """
        name: derm
        archive: d.tar.gz
        modality: dermatology
        table: t.csv
        image_column: path
        label: {kind: soft, rater_columns: [r1, r2], classes: [a, b, c]}
        attributes: [sex, age_group, skin_tone]

        """

    /// The `paper` profile takes the paper's resolutions, conditioning, α and baselines per modality, keeps
    /// the heuristic baseline on the paper's augmentation list, validates, and has a (long) finite estimate.
    @Test(arguments: ["histopathology", "radiology", "dermatology"])
    func paperPresetPerModality(modality: String) throws {
        let text = modality == "histopathology" ? Self.histopathology : modality == "radiology" ? Self.radiology() : Self.dermatology
        let dropped = try Manifest.parse(text: text, file: "x.yaml")
        let m = try PaperPreset.apply(to: dropped, file: "x.yaml")
        let c = ChainConfig.resolve(manifest: m, profile: .paper, threads: 2)
        let preset = try #require(PaperPreset.settings(for: dropped))
        switch modality {
        case "histopathology":
            #expect(m.resolutions == [96] && c.ddpm.resolution == 96 && c.upsampler == nil)
            #expect(c.ddpm.cond == ["label", "domain"] && c.sample.attribute == "domain")
            #expect(c.classify.alphas == [0.5] && c.classify.baselines == ["none", "heuristic"] && c.ddpm.hflip)
        case "radiology":
            #expect(m.resolutions == [64, 224] && c.upsampler?.from == 64 && c.upsampler?.to == 224)
            #expect(c.ddpm.cond == ["label"] && c.sample.attribute == nil)
            #expect(c.classify.alphas == [0] && c.classify.baselines == ["none", "heuristic", "focal"] && !c.ddpm.hflip)
        default:
            #expect(m.resolutions == [64, 256] && c.upsampler?.from == 64 && c.upsampler?.to == 256)
            #expect(c.ddpm.cond == ["label", "sex"] && c.sample.attribute == "sex")
            #expect(c.classify.alphas == [0.25] && c.classify.baselines == ["none", "heuristic", "oversample", "focal"] && c.ddpm.hflip)
        }
        #expect(HeuristicAugment.policies(.imagenet, modality: m.modality) == [preset.augment])
        // It validates, and every batch fits the batch × resolution² bound at the preset's resolutions.
        try m.validate(file: "x.yaml")
        let final = c.upsampler?.to ?? c.ddpm.resolution
        #expect(c.ddpm.batch * c.ddpm.resolution * c.ddpm.resolution <= ManifestLimits.maxBatchPixels)
        #expect((c.upsampler.map { $0.batch * final * final } ?? 0) <= ManifestLimits.maxBatchPixels)
        #expect(c.classify.batch * final * final <= ManifestLimits.maxBatchPixels)
        let estimate = RunEstimate(config: c, trainRows: 1000, rows: 1500)
        #expect(estimate.totalSeconds.isFinite && estimate.totalSeconds > 0)
        // Without the preset the paper profile used the generic defaults (32 → 64, α sweep, every label+attribute).
        let generic = ChainConfig.resolve(manifest: dropped, profile: .paper, threads: 2)
        #expect(generic.ddpm.resolution == 32 && generic.classify.alphas == [0, 0.25, 0.5, 0.75])
    }

    /// The manifest's keys win over the preset; a histopathology drop without a domain column conditions on
    /// the label alone; a manifest whose own key cannot fit the preset is refused, naming both.
    @Test func paperPresetYieldsToTheManifest() throws {
        let own = try Manifest.parse(text: Self.dermatology + "pipeline: {base_resolution: 16, final_resolution: 32, mix: {alpha: [0.5]}}\n",
                                     file: "x.yaml")
        let m = try PaperPreset.apply(to: own, file: "x.yaml")
        #expect(m.resolutions == [16, 32] && m.pipeline.mix?.alpha == [0.5] && m.pipeline.ddpm?.cond == ["label", "sex"])
        let noDomain = try Manifest.parse(text: Self.histopathology.replacingOccurrences(of: "domain_column: hospital\n", with: ""), file: "x.yaml")
        #expect(try PaperPreset.apply(to: noDomain, file: "x.yaml").pipeline.ddpm?.cond == ["label"])
        let big = try Manifest.parse(text: Self.dermatology + "pipeline: {classifier: {batch: 128}}\n", file: "x.yaml")
        do {
            _ = try PaperPreset.apply(to: big, file: "x.yaml")
            Issue.record("a classifier batch of 128 at 256 px passed")
        } catch let e as DatasetError {
            #expect(e.location == "pipeline.classifier.batch" && e.found.contains("paper profile's dermatology preset"), "\(e)")
        }
        let generic = try Manifest.parse(text: Self.dermatology.replacingOccurrences(of: "dermatology", with: "generic"), file: "x.yaml")
        #expect(try PaperPreset.apply(to: generic, file: "x.yaml") == generic)
    }
}
