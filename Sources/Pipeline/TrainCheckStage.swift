import Diffusion
import Foundation
import Models
import NN
import Tensors

/// `fairgen train-check`'s stage: a tiny conditional DDPM (8×8, one channel, 8 base channels) trained on
/// seeded random images through the very training function of `train-ddpm` (`DiffusionStages.train`),
/// as a data-parallel stage. It exists to check MPI runs against one process (docs/mpi.md) without a
/// dataset: the same settings give the same checkpoint object id whatever the number of ranks.
public enum TrainCheckStage {
    public static let codeVersion = "train-check-1"

    /// What the stage key hashes.
    public struct Settings: Codable, Sendable, Equatable {
        public var steps: Int
        public var batch: Int
        /// nil = 1 (left out of the key, as in `pipeline.ddpm.micro_batches`).
        public var microBatches: Int?
        public var seed: UInt64
        public init(steps: Int, batch: Int, microBatches: Int?, seed: UInt64) {
            self.steps = steps; self.batch = batch; self.microBatches = microBatches == 1 ? nil : microBatches; self.seed = seed
        }
    }

    /// Generated examples (fixed by the seed).
    static let examples = 16

    public static func stage(_ settings: Settings) throws -> Stage {
        var stage = try Stage(name: "train-check", codeVersion: codeVersion, config: settings) { ctx in
            var rng = RNG(seed: settings.seed)
            var x = Tensor(zeros: [examples, 1, 8, 8])
            x.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
            let cond = Tensor(shape: [examples, 2], data: (0..<examples).flatMap { $0 % 2 == 0 ? [Float(1), 0] : [0, 1] })
            let data = ImageTrainingSet(images: x, cond: cond, horizontalFlip: true, condDrop: 0.1)
            let unet = UNetConfig(inChannels: 1, baseChannels: 8, mults: [1, 2], resBlocks: 1, attnResolutions: [4], heads: 1,
                                  condDim: 2, outChannels: 1, resolution: 8, groups: 2)
            var s = DiffusionStages.settings(steps: settings.steps, batch: settings.batch, lr: 2e-3, ema: 0.99, condDrop: 0.1,
                                             every: max(1, settings.steps / 2), seed: settings.seed, prediction: "v",
                                             schedule: "cosine", timesteps: 100)
            s.microBatches = try DiffusionStages.microBatches(settings.microBatches, batch: settings.batch, ctx: ctx,
                                                              key: "--micro-batches")
            let layout = try ConditioningLayout(cond: ["label"], classes: ["a", "b"], attributeValues: [:])
            let card = DiffusionStages.ModelCard(unet: unet, layout: layout, prediction: "v", schedule: "cosine",
                                                 timesteps: 100, steps: settings.steps)
            return ["checkpoint": .bytes(try DiffusionStages.train(ctx, unet: unet, settings: s, data: data, card: card))]
        }
        stage.dataParallel = true
        return stage
    }
}
