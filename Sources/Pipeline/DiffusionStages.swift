import Datasets
import Distributed
import Diffusion
import Foundation
import Models
import NN
import Store
import Tensors

/// The `train-ddpm` and `train-upsampler` stages, and the checkpoint format they hand to fair-sample.
///
/// Training checkpoints (weights, AdamW moments, EMA, step) go to the stage's resume folder every
/// `checkpointEvery` steps and when asked to stop, so a killed or stopped run continues bit-for-bit
/// from the last one. The stage's output is a smaller safetensors file: the EMA weights under the
/// UNet's parameter names, with the network config, conditioning layout and schedule in `__metadata__`.
public enum DiffusionStages {
    public static let ddpmCodeVersion = "train-ddpm-2"
    public static let upsamplerCodeVersion = "train-upsampler-1"

    /// What a sampling checkpoint describes besides its weights.
    public struct ModelCard: Codable, Sendable, Equatable {
        public var unet: UNetConfig
        public var layout: ConditioningLayout
        public var prediction: String
        public var schedule: String
        public var timesteps: Int
        public var steps: Int
        /// Upsampler only: base resolution and augmentation settings of the conditioning image.
        public var baseResolution: Int?
        public var augment: UpsamplerAugmentSettings?
    }

    /// The conditioning layout of `cond` over the table's classes, attributes and (as `domain`) sites.
    public static func layout(_ table: DatasetTable, cond: [String]) throws -> ConditioningLayout {
        var values: [String: [String]] = [:]
        for (i, a) in table.attributes.enumerated() { values[a] = table.attributeValues[i] }
        if !table.domainValues.isEmpty && values["domain"] == nil { values["domain"] = table.domainValues }
        do {
            return try ConditioningLayout(cond: cond, classes: table.classes, attributeValues: values)
        } catch let e as ConditioningError {
            throw PipelineError("manifest \(e.field): \(e.reason)")
        }
    }

    /// Row `i`'s conditioning vector: its label vector as stored — zeros when unlabeled, 0 for an unknown
    /// multi-label entry, `MultiLabelCell.uncertainValue` for an uncertain one (the paper trains the generator
    /// on uncertain CheXpert labels that the classifier never sees) — and the one-hot value of each
    /// conditioned attribute (zeros when unknown).
    public static func condVector(_ row: TableRow, table: DatasetTable, layout: ConditioningLayout) -> [Float] {
        layout.encode(label: row.label, attributes: attributeIndices(row, table: table, layout: layout))
    }

    /// The known attribute values of `row` among the layout's blocks, by name.
    static func attributeIndices(_ row: TableRow, table: DatasetTable, layout: ConditioningLayout) -> [String: Int] {
        var out: [String: Int] = [:]
        for b in layout.blocks where b.name != ConditioningLayout.labelName {
            if let i = table.attributes.firstIndex(of: b.name) {
                if row.attributes[i] >= 0 { out[b.name] = row.attributes[i] }
            } else if b.name == "domain", row.domain >= 0 {
                out[b.name] = row.domain
            }
        }
        return out
    }

    /// The rows a generative model learns from: `train` and `unlabeled` (never val or test).
    public static func generativeRows(_ table: DatasetTable) -> [Int] {
        table.rows.indices.filter { table.rows[$0].split == .train || table.rows[$0].split == .unlabeled }
    }

    /// The cells `ddpm.balance` equalises: (class, attribute value) — the distribution fair-sample asks the
    /// model for, every value equally likely within each class. Unlabeled rows are one more "class"; for
    /// multi-label data, where a row has no single class, the cells are the attribute values alone.
    static func balanceGroups(_ table: DatasetTable, rows: [Int], attribute a: Int) -> [Int] {
        let values = table.attributeValues[a].count + 1          // + unknown (−1)
        return rows.map { r in
            let row = table.rows[r]
            let cls = table.labelKind == .multi ? -1 : (row.topClass ?? -1)
            return (cls + 1) * values + (row.attributes[a] + 1)
        }
    }

    /// Images of `rows` at `resolution` as one [N, C, R, R] tensor in [−1, 1].
    static func images(_ dataset: IngestedDataset, rows: [Int], resolution: Int) throws -> Tensor {
        guard let set = dataset.images(at: resolution) else {
            throw PipelineError("dataset object has no images at \(resolution) px (has \(dataset.images.map(\.resolution)))")
        }
        var t = set.batch(rows)
        t.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = p[i] * 2 - 1 } }
        return t
    }

    static func groups(_ channels: Int) -> Int { channels >= 64 ? 32 : max(1, min(8, channels / 4)) }

    static func settings(steps: Int, batch: Int, lr: Double, ema: Double, condDrop: Double, every: Int, seed: UInt64,
                         prediction: String, schedule: String, timesteps: Int) -> DDPMTrainingSettings {
        var s = DDPMTrainingSettings()
        s.steps = steps; s.batch = batch; s.learningRate = Float(lr); s.warmupSteps = min(100, max(1, steps / 10))
        s.ema = Float(ema); s.condDrop = Float(condDrop); s.checkpointEvery = every; s.seed = seed
        s.prediction = prediction == "v" ? .v : .epsilon
        s.schedule = schedule == "linear" ? .linear : .cosine
        s.timesteps = timesteps
        return s
    }

    /// The `train-ddpm` stage: input `dataset`, output `checkpoint`.
    public static func trainDDPM(config: ChainConfig, dataset: ObjectID) throws -> Stage {
        var stage = try Stage(name: "train-ddpm", codeVersion: ddpmCodeVersion, config: TrainSlice(ddpm: config.ddpm, threads: config.threads),
                  inputs: ["dataset": dataset]) { ctx in
            let d = try DatasetObject.decode(ctx.readInput("dataset"))
            let c = config.ddpm
            let layout = try layout(d.table, cond: c.cond)
            let set = try ddpmTrainingSet(d, config: c, layout: layout)
            let channels = set.images.shape[1]
            let unet = UNetConfig(inChannels: channels, baseChannels: c.channels, mults: c.mults, resBlocks: c.resBlocks,
                                  attnResolutions: c.attention, heads: 1, condDim: layout.width, outChannels: channels,
                                  resolution: c.resolution, groups: groups(c.channels))
            var s = settings(steps: c.steps, batch: c.batch, lr: c.lr, ema: c.ema, condDrop: c.condDrop,
                             every: c.checkpointEvery, seed: c.seed, prediction: c.prediction, schedule: c.schedule,
                             timesteps: c.timesteps)
            s.microBatches = try microBatches(c.microBatches, batch: c.batch, ctx: ctx, key: "pipeline.ddpm.micro_batches")
            var data: any DiffusionTrainingData = set
            if let name = c.balance {
                guard let a = d.table.attributes.firstIndex(of: name) else {
                    throw PipelineError("train-ddpm: pipeline.ddpm.balance: '\(name)' is not an attribute of the dataset")
                }
                data = ResampledTrainingSet(base: data, mapping: ResampledTrainingSet.balancedMapping(
                    groups: balanceGroups(d.table, rows: generativeRows(d.table), attribute: a)))
            }
            let card = ModelCard(unet: unet, layout: layout, prediction: c.prediction, schedule: c.schedule,
                                 timesteps: c.timesteps, steps: c.steps)
            return ["checkpoint": .bytes(try train(ctx, unet: unet, settings: s, data: data, card: card))]
        }
        stage.dataParallel = true
        return stage
    }

    /// `micro_batches` checked against the batch and the ranks (named by its manifest `key` when refused).
    static func microBatches(_ m: Int?, batch: Int, ctx: StageContext, key: String) throws -> Int? {
        do {
            try MicroBatchError.check(microBatches: m ?? 1, batch: batch, ranks: ctx.communicator.size, key: key)
        } catch let e as MicroBatchError {
            throw PipelineError("\(ctx.stage): \(e.description)")
        }
        return m == 1 ? nil : m
    }

    /// The `train-upsampler` stage: input `dataset`, output `checkpoint`.
    public static func trainUpsampler(config: ChainConfig, dataset: ObjectID) throws -> Stage {
        guard let u = config.upsampler else { throw PipelineError("train-upsampler: no upsampler in this configuration") }
        var stage = try Stage(name: "train-upsampler", codeVersion: upsamplerCodeVersion,
                         config: UpsamplerSlice(upsampler: u, cond: config.ddpm.cond, prediction: config.ddpm.prediction,
                                                schedule: config.ddpm.schedule, timesteps: config.ddpm.timesteps,
                                                hflip: config.ddpm.hflip, threads: config.threads),
                         inputs: ["dataset": dataset]) { ctx in
            let d = try DatasetObject.decode(ctx.readInput("dataset"))
            let layout = try layout(d.table, cond: config.ddpm.cond)
            let data = try upsamplerTrainingSet(d, config: config, layout: layout)
            let channels = data.images.shape[1]
            let aug = data.conditioner.settings
            let unet = UNetConfig(inChannels: 2 * channels, baseChannels: u.channels, mults: u.mults, resBlocks: u.resBlocks,
                                  attnResolutions: [], heads: 1, condDim: layout.width + aug.levelFeatures,
                                  outChannels: channels, resolution: u.to, groups: groups(u.channels))
            var s = settings(steps: u.steps, batch: u.batch, lr: u.lr, ema: config.ddpm.ema, condDrop: config.ddpm.condDrop,
                             every: u.checkpointEvery, seed: u.seed, prediction: config.ddpm.prediction,
                             schedule: config.ddpm.schedule, timesteps: config.ddpm.timesteps)
            s.microBatches = try microBatches(u.microBatches, batch: u.batch, ctx: ctx, key: "pipeline.upsampler.micro_batches")
            let card = ModelCard(unet: unet, layout: layout, prediction: config.ddpm.prediction, schedule: config.ddpm.schedule,
                                 timesteps: config.ddpm.timesteps, steps: u.steps, baseResolution: u.from, augment: aug)
            return ["checkpoint": .bytes(try train(ctx, unet: unet, settings: s, data: data, card: card))]
        }
        stage.dataParallel = true
        return stage
    }

    /// The base DDPM's training set: the `train` and `unlabeled` rows at the base resolution with their
    /// conditioning vectors, mirrored at random only when `ddpm.hflip` says so.
    static func ddpmTrainingSet(_ d: IngestedDataset, config c: ChainConfig.DDPM, layout: ConditioningLayout) throws -> ImageTrainingSet {
        let rows = generativeRows(d.table)
        guard !rows.isEmpty else { throw PipelineError("train-ddpm: the dataset has no train or unlabeled rows") }
        let x = try images(d, rows: rows, resolution: c.resolution)
        let cond = layout.batch(rows.map { condVector(d.table.rows[$0], table: d.table, layout: layout) })
        return ImageTrainingSet(images: x, cond: cond, horizontalFlip: c.hflip, condDrop: Float(c.condDrop))
    }

    /// The upsampler's training set: the same rows at the final resolution, their low-resolution conditioning
    /// made by bilinear resizes to the exact base and final sizes (any ratio), mirrored only when `ddpm.hflip` says so.
    static func upsamplerTrainingSet(_ d: IngestedDataset, config: ChainConfig, layout: ConditioningLayout) throws -> UpsamplerTrainingSet {
        guard let u = config.upsampler else { throw PipelineError("train-upsampler: no upsampler in this configuration") }
        let rows = generativeRows(d.table)
        guard !rows.isEmpty else { throw PipelineError("train-upsampler: the dataset has no train or unlabeled rows") }
        let x = try images(d, rows: rows, resolution: u.to)
        let cond = layout.batch(rows.map { condVector(d.table.rows[$0], table: d.table, layout: layout) })
        var aug = UpsamplerAugmentSettings()
        if u.aug == "none" {
            aug.antialiasProbability = 0; aug.noiseProbability = 0; aug.blurKernel = 1; aug.maxTrainingLevel = 0
        }
        let schedule = NoiseSchedule(kind: config.ddpm.schedule == "linear" ? .linear : .cosine, steps: config.ddpm.timesteps)
        let conditioner = UpsamplerConditioner(settings: aug, schedule: schedule, baseSize: (u.from, u.from))
        return UpsamplerTrainingSet(images: x, cond: cond, conditioner: conditioner, horizontalFlip: config.ddpm.hflip,
                                    condDrop: Float(config.ddpm.condDrop))
    }

    /// Trains (resuming from the resume folder's checkpoint when there is one) and returns the EMA
    /// sampling checkpoint's bytes. Under MPI every rank trains (sharing micro-batch gradients through
    /// `ctx.communicator`) and reads the same resume checkpoint; only rank 0 writes checkpoints.
    static func train(_ ctx: StageContext, unet: UNetConfig, settings s: DDPMTrainingSettings,
                      data: DiffusionTrainingData, card: ModelCard) throws -> [UInt8] {
        let model = UNetDenoiser(config: unet, seed: s.seed)
        let trainer = DDPMTrainer(model: model, settings: s, communicator: ctx.communicator)
        if ctx.isWriter { try FileManager.default.createDirectory(at: ctx.resumeDirectory, withIntermediateDirectories: true) }
        let resume = ctx.resumeDirectory.appendingPathComponent("training.safetensors").path
        if FileManager.default.fileExists(atPath: resume) {
            try trainer.resume(from: resume)
        }
        var recent: [Float] = []
        while trainer.step < s.steps {
            if ctx.shouldStop() {
                try trainer.saveCheckpoint(to: resume)
                throw StageInterrupted(stage: ctx.stage)
            }
            let loss = trainer.trainStep(data: data)
            recent.append(loss)
            if recent.count > 50 { recent.removeFirst() }
            if trainer.step == s.steps || (s.checkpointEvery > 0 && trainer.step % s.checkpointEvery == 0) {
                try trainer.saveCheckpoint(to: resume)
            }
            ctx.progress(step: trainer.step, total: s.steps, loss: Double(recent.reduce(0, +) / Float(recent.count)))
        }
        let ema = UNetDenoiser(config: unet, seed: 0)
        trainer.copyEMA(into: ema.parameters)
        let cardJSON = try JSONEncoder.sorted.encode(card)
        return SafeTensors.encode(ema.parameters.map { ($0.name, $0.value) },
                                  metadata: ["fairgen": String(decoding: cardJSON, as: UTF8.self)])
    }

    /// Loads a sampling checkpoint written by the stages above.
    public static func load(_ bytes: [UInt8], source: String) throws -> (model: UNetDenoiser, card: ModelCard) {
        let file = try SafeTensors.decode(bytes, source: source)
        guard let text = file.metadata["fairgen"],
              let card = try? JSONDecoder().decode(ModelCard.self, from: Data(text.utf8)) else {
            throw PipelineError("\(source): not a fairgen diffusion checkpoint (metadata \"fairgen\" missing)")
        }
        let model = UNetDenoiser(config: card.unet, seed: 0)
        try model.unet.load(file.tensors, source: source)
        return (model, card)
    }

    struct TrainSlice: Encodable { var ddpm: ChainConfig.DDPM; var threads: Int }
    struct UpsamplerSlice: Encodable {
        var upsampler: ChainConfig.Upsampler
        var cond: [String]
        var prediction: String
        var schedule: String
        var timesteps: Int
        var hflip: Bool
        var threads: Int
    }
}

extension JSONEncoder {
    /// Sorted keys: the same value always encodes to the same bytes (checkpoint hashes stay stable).
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
