import Classifier
import Datasets
import Foundation
import Models
import NN
import Store
import Tensors

/// The `classify` stages: one ResNet per variant × seed (DESIGN §6 names), trained on the real
/// training split — mixed with the synthetic shards at probability α of drawing a real example for
/// `synthetic_a<α>` — with model selection on `val`.
///
/// Outputs: `checkpoint` (safetensors: the selected epoch's weights and BatchNorm statistics) and
/// `predictions` (safetensors: `scores.<split>` [N, K] for val / test_id / test_ood, and
/// `features.<split>` [N, F] penultimate features for train / test_id / test_ood, used for MMD).
public enum ClassifyStage {
    // 2: focal on soft/multi heads, oversampling by the domain when no attribute, RandAugment for all modalities.
    public static let codeVersion = "classify-2"

    struct Slice: Encodable {
        var variant: String
        var seed: Int
        var arch: String
        var widths: [Int]
        var epochs: Int
        var batch: Int
        var lr: Double
        var resolution: Int
        var oversampleAttribute: String?
        /// Augmentation policies in order (heuristic variants only, so other variants' keys do not move).
        var augment: [String]?
        var threads: Int
        /// `pipeline.seed` (absent when 0, so default keys are unchanged).
        var runSeed: Int? = nil

        /// The seed this classifier's streams derive from: the seed index, shifted by the run seed.
        var effectiveSeed: UInt64 { UInt64(seed) &+ UInt64(runSeed ?? 0) &* ChainConfig.seedStride }
    }

    /// Stage name of one variant × seed, e.g. `classify-synthetic_a0.50-seed1`; a stacked variant's `+`
    /// (not allowed in stage names) becomes `-`: `classify-synthetic_a0.50-heuristic-seed1`.
    public static func stageName(_ variant: Variant, seed: Int) -> String {
        "classify-\(variant.name.replacingOccurrences(of: "+", with: "-"))-seed\(seed)"
    }

    /// The splits whose scores are kept, in order.
    public static let scoredSplits: [Split] = [.val, .testID, .testOOD]
    /// The splits whose features are kept (MMD between domains).
    public static let featureSplits: [Split] = [.train, .testID, .testOOD]

    public static func stage(config: ChainConfig, variant: Variant, seed: Int, resolution: Int, dataset: ObjectID,
                             shards: [ObjectID]) throws -> Stage {
        var inputs = ["dataset": dataset]
        if variant.usesSynthetic {
            for (i, s) in shards.enumerated() { inputs[String(format: "shard-%05d", i)] = s }
        }
        let c = config.classify
        let slice = Slice(variant: variant.name, seed: seed, arch: c.arch, widths: c.widths, epochs: c.epochs, batch: c.batch,
                          lr: c.lr, resolution: resolution,
                          oversampleAttribute: variant.usesOversample ? config.classify.oversampleBy : nil,
                          augment: variant.usesHeuristic ? c.augment : nil,
                          threads: config.threads, runSeed: c.runSeed)
        return try Stage(name: stageName(variant, seed: seed), codeVersion: codeVersion, config: slice, inputs: inputs) { ctx in
            try run(ctx, slice: slice, variant: variant)
        }
    }

    static func run(_ ctx: StageContext, slice: Slice, variant: Variant) throws -> [String: StageOutput] {
        guard let layout = ChainConfig.resnetLayout(arch: slice.arch) else {
            throw PipelineError("manifest pipeline.classifier.arch: '\(slice.arch)' is unknown; use resnet18, resnet34 or resnet50")
        }
        let d = try DatasetObject.decode(ctx.readInput("dataset"))
        guard let images = d.images(at: slice.resolution) else {
            throw PipelineError("classify: dataset object has no images at \(slice.resolution) px")
        }
        let table = d.table
        func labeled(_ split: Split) -> LabeledImages {
            let rows = table.rows.indices.filter { table.rows[$0].split == split }
            return LabeledImages(images: bank(images, rows: rows), targets: targets(table, rows: rows),
                                 groups: groups(table, rows: rows, by: slice.oversampleAttribute))
        }
        let train = labeled(.train), val = labeled(.val)
        guard train.labeledOnly().count > 0 else { throw PipelineError("classify: no labeled rows in split train") }

        var synthetic: LabeledImages? = nil
        if variant.usesSynthetic {
            let shardIDs = ctx.inputs.keys.filter { $0.hasPrefix("shard-") }.sorted().map { ctx.inputs[$0]! }
            synthetic = try syntheticImages(ShardReader.read(shardIDs, store: ctx.store), table: table,
                                            channels: images.channels, resolution: slice.resolution)
        }

        var settings = ClassifierSettings()
        settings.epochs = slice.epochs
        settings.batch = slice.batch
        settings.learningRate = Float(slice.lr)
        settings.seed = slice.effectiveSeed
        if let a = variant.syntheticAlpha { settings.alpha = a }
        if variant.usesOversample {
            guard slice.oversampleAttribute != nil else {
                throw PipelineError("classify: \(variant.name) needs an attribute or domain_column to resample over")
            }
            settings.oversample = true
        }
        if variant == .focal { settings.loss = .focal }
        settings.augment = try (slice.augment ?? []).map { name in
            guard let p = HeuristicAugment.Policy(rawValue: name) else {
                throw PipelineError("classify: unknown augmentation policy '\(name)'")
            }
            return p
        }
        var rng = RNG(seed: slice.effectiveSeed &* 0x9E37_79B9 &+ 17)
        let network = ResNet(ResNetConfig(inChannels: images.channels, numOutputs: table.classes.count,
                                          resolution: slice.resolution, widths: slice.widths, blocks: layout.blocks,
                                          bottleneck: layout.bottleneck), rng: &rng)
        let trained: TrainedClassifier
        do {
            trained = try ClassifierTrainer.train(network: network, config: settings, real: train, synthetic: synthetic,
                                                  validation: val, shouldStop: ctx.shouldStop) { p in
                ctx.progress(step: p.step, total: p.totalSteps, loss: p.loss)
            }
        } catch is ClassifierTrainer.Stopped {
            throw StageInterrupted(stage: ctx.stage)    // short stage: it reruns from the start
        }

        let multi = table.labelKind == .multi
        var tensors: [(name: String, tensor: Tensor)] = []
        // One pass per split gives both the scores and the features.
        for split in [Split.train, .val, .testID, .testOOD] {
            let rows = table.rows.indices.filter { table.rows[$0].split == split }
            let scored = scoredSplits.contains(split), featured = featureSplits.contains(split) && !rows.isEmpty
            guard scored || featured else { continue }
            let out = ClassifierTrainer.predict(trained.network, images: bank(images, rows: rows), multiLabel: multi,
                                                withFeatures: featured)
            if scored {
                tensors.append(("scores." + split.rawValue, Tensor(shape: [rows.count, table.classes.count], data: out.scores)))
            }
            if featured {
                tensors.append(("features." + split.rawValue, Tensor(shape: [rows.count, out.featureDim], data: out.features)))
            }
        }
        let meta = ["variant": variant.name, "seed": String(slice.seed), "best_epoch": String(trained.bestEpoch),
                    "best_val_score": String(trained.bestValScore)]
        return [
            "checkpoint": .bytes(SafeTensors.encode(trained.network.stateTensors(), metadata: meta)),
            "predictions": .bytes(SafeTensors.encode(tensors, metadata: meta)),
        ]
    }

    /// Oversampling groups of `rows`: the value index of attribute `by`, the domain index for `domain`
    /// (−1 = unknown: left out of the balanced order); all 0 without a grouping (nothing to balance).
    static func groups(_ table: DatasetTable, rows: [Int], by: String?) -> [Int] {
        guard let by else { return [Int](repeating: 0, count: rows.count) }
        if let column = table.attributes.firstIndex(of: by) { return rows.map { table.rows[$0].attributes[column] } }
        if by == "domain" { return rows.map { table.rows[$0].domain } }
        return [Int](repeating: 0, count: rows.count)
    }

    static func bank(_ set: ImageSet, rows: [Int]) -> ImageBank {
        let n = set.imageBytes
        var pixels = [UInt8](repeating: 0, count: rows.count * n)
        for (k, r) in rows.enumerated() { pixels[(k * n)..<((k + 1) * n)] = set.pixels[(r * n)..<((r + 1) * n)] }
        return ImageBank(channels: set.channels, height: set.resolution, width: set.resolution, pixels: pixels)
    }

    /// Classifier targets of `rows` (unlabeled rows: −1 / all-zero, never trained on).
    public static func targets(_ table: DatasetTable, rows: [Int]) -> Targets {
        let k = table.classes.count
        switch table.labelKind {
        case .single:
            return .single(rows.map { table.rows[$0].topClass ?? -1 }, classes: k)
        case .soft:
            var p = [Float](repeating: 0, count: rows.count * k)
            for (i, r) in rows.enumerated() where table.rows[r].isLabeled {
                let l = table.rows[r].label
                let sum = l.reduce(0, +)
                if sum > 0 { for j in 0..<k { p[i * k + j] = l[j] / sum } }
            }
            return .soft(p, classes: k)
        case .multi:
            var v = [Float](repeating: 0, count: rows.count * k), m = v
            for (i, r) in rows.enumerated() {
                for j in 0..<k where table.rows[r].labelMask[j] == 1 {
                    v[i * k + j] = table.rows[r].label[j]
                    m[i * k + j] = 1
                }
            }
            return .multi(values: v, mask: m, classes: k)
        }
    }

    /// The synthetic samples as classifier examples (decoded PNGs; targets from their JSON: `target` and
    /// `unknown` when present, else the one-hot of `label` — or, multi-label, its `|`-separated positives).
    static func syntheticImages(_ samples: [SyntheticSample], table: DatasetTable, channels: Int, resolution: Int) throws -> LabeledImages {
        var bank = ImageBank(channels: channels, height: resolution, width: resolution)
        let k = table.classes.count
        var single: [Int] = [], values: [Float] = [], mask: [Float] = []
        for s in samples {
            let img = try PNGCodec.decode(s.png, file: "synthetic shard", entry: s.stem + ".png")
            guard img.shape == [channels, resolution, resolution] else {
                throw PipelineError("synthetic sample \(s.stem): shape \(img.shape), expected \([channels, resolution, resolution])")
            }
            bank.append(img)
            if let t = s.target, table.labelKind != .single {
                guard t.count == k, s.unknown.allSatisfy({ (0..<k).contains($0) }) else {
                    throw PipelineError("synthetic sample \(s.stem): target of \(t.count) classes with unknown \(s.unknown), expected \(k) classes and indices below \(k)")
                }
                let known = (0..<k).map { s.unknown.contains($0) ? Float(0) : 1 }
                values += zip(t, known).map { $0 * $1 }
                mask += known
            } else if table.labelKind == .multi {
                let positive = Set(s.label.split(separator: "|").map(String.init))
                values += table.classes.map { positive.contains($0) ? 1 : 0 }
                mask += [Float](repeating: 1, count: k)
            } else {
                guard let y = table.classes.firstIndex(of: s.label) else {
                    throw PipelineError("synthetic sample \(s.stem): label '\(s.label)' is not a class")
                }
                single.append(y)
                var onehot = [Float](repeating: 0, count: k)
                onehot[y] = 1
                values += onehot
                mask += [Float](repeating: 1, count: k)
            }
        }
        switch table.labelKind {
        case .multi:
            return LabeledImages(images: bank, targets: .multi(values: values, mask: mask, classes: k))
        case .soft:
            // Normalised like the real rows' targets (`targets(_:rows:)`).
            for i in 0..<(values.count / max(1, k)) {
                let sum = values[(i * k)..<((i + 1) * k)].reduce(0, +)
                if sum > 0 { for j in 0..<k { values[i * k + j] /= sum } }
            }
            return LabeledImages(images: bank, targets: .soft(values, classes: k))
        case .single:
            return LabeledImages(images: bank, targets: .single(single, classes: k))
        }
    }
}
