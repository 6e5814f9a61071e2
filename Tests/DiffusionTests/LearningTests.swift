import Foundation
import Models
import Testing
import Tensors
@testable import Diffusion

/// Issue 4's learning test: the real conditional UNet (tiny width, 16×16) learns a two-class dataset whose
/// classes differ visibly — class 0: a bright 6×6 square on a dark background, class 1: a dark square on a
/// bright background, square at a random position — and its conditional samples are classified by a fixed
/// rule (mean pixel < 0 → class 0) as the class they were conditioned on.
///
/// Set FAIRGEN_DIFFUSION_GRID=<path.png> to also write the sample grid (docs/diffusion-grid.png is made so).
@Suite struct DiffusionLearningTests {
    static let size = 16

    static func dataset(count: Int, seed: UInt64) -> (images: Tensor, labels: [Int]) {
        var rng = RNG(seed: seed)
        var x = Tensor(zeros: [count, 1, size, size])
        var labels: [Int] = []
        for i in 0..<count {
            let label = i % 2
            let (bg, fg): (Float, Float) = label == 0 ? (-0.8, 0.8) : (0.8, -0.8)
            let r = rng.int(below: size - 6 + 1), c = rng.int(below: size - 6 + 1)
            for y in 0..<size { for xx in 0..<size {
                let inside = y >= r && y < r + 6 && xx >= c && xx < c + 6
                x.data[(i * size + y) * size + xx] = inside ? fg : bg
            } }
            labels.append(label)
        }
        return (x, labels)
    }

    static func classify(_ images: Tensor) -> [Int] {
        let m = images.count / images.shape[0]
        return (0..<images.shape[0]).map { i in
            images.data[(i * m)..<((i + 1) * m)].reduce(0, +) < 0 ? 0 : 1
        }
    }

    @Test func conditionalSamplesHaveTheirClass() throws {
        let data = Self.dataset(count: 64, seed: 1)
        #expect(Self.classify(data.images) == data.labels)          // the rule is right on real data
        let layout = try ConditioningLayout(cond: ["label"], classes: ["bright", "dark"], attributeValues: [:])
        let cond = layout.batch(data.labels.map { ConditioningLayout.oneHot($0, count: 2) })

        var settings = DDPMTrainingSettings()
        // v-prediction: in this CPU budget (200 steps) it learns the conditioning; ε-prediction at 300 steps
        // still mixed the classes (59 % by the rule) — the test fails when conditioning is not learned.
        settings.steps = 200; settings.batch = 16; settings.learningRate = 2e-3; settings.warmupSteps = 20
        settings.ema = 0.99; settings.checkpointEvery = 0; settings.seed = 3; settings.prediction = .v; settings.timesteps = 1000
        let config = UNetConfig(inChannels: 1, baseChannels: 16, mults: [1, 2], resBlocks: 1, attnResolutions: [],
                                heads: 1, condDim: layout.width, outChannels: 1, resolution: Self.size, groups: 8)
        let model = UNetDenoiser(config: config, seed: 7)
        let trainer = DDPMTrainer(model: model, settings: settings)
        let clock = ContinuousClock(), start = clock.now
        var losses: [Float] = []
        try trainer.run(data: ImageTrainingSet(images: data.images, cond: cond, horizontalFlip: true, condDrop: 0.1)) {
            losses.append($0.loss)
        }
        let trainTime = clock.now - start

        // Sample with the EMA weights.
        let ema = UNetDenoiser(config: config, seed: 0)
        trainer.copyEMA(into: ema.parameters)
        let sampler = Sampler(schedule: trainer.schedule, prediction: settings.prediction, settings: SamplerSettings(kind: .ddim, steps: 20, guidance: 1))
        let wanted = (0..<32).map { $0 % 2 }
        let samples = sampler.sample(model: ema, shape: [32, 1, Self.size, Self.size],
                                     cond: layout.batch(wanted.map { ConditioningLayout.oneHot($0, count: 2) }), seed: 11)
        let predicted = Self.classify(samples)
        let accuracy = Double(zip(predicted, wanted).filter { $0 == $1 }.count) / 32
        print("learning test: 200 steps in \(trainTime), loss \(losses.prefix(10).reduce(0, +) / 10) → \(losses.suffix(10).reduce(0, +) / 10), accuracy \(accuracy)")
        #expect(accuracy >= 0.8, "conditional accuracy \(accuracy)")
        // and they are squares, not flat grey images of the right mean: real images have pixel std ≈ 0.56.
        let structured = (0..<32).filter { moments(Batch.slice(samples, $0..<($0 + 1))).std > 0.3 }.count
        #expect(structured >= 26, "\(structured) of 32 samples have pixel std > 0.3")
        if let path = ProcessInfo.processInfo.environment["FAIRGEN_DIFFUSION_GRID"] {
            try writeGridPNG(samples, columns: 8, to: path)
        }
    }

    /// The UNet as cascaded upsampler: 6-channel input (RGB noisy 8×8 ⊕ upsampled 4×4), cond ⊕ level features;
    /// a few training steps, then a full cascade sample through both UNets.
    @Test func unetUpsamplerTrainsAndCascades() throws {
        let sched = NoiseSchedule(kind: .cosine, steps: 100)
        let conditioner = UpsamplerConditioner(schedule: sched, baseSize: (4, 4))
        var rng = RNG(seed: 1)
        var images = Tensor(zeros: [4, 3, 8, 8])
        images.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let cond = Tensor(shape: [4, 2], data: [1, 0, 0, 1, 1, 0, 0, 1])
        let upConfig = UNetConfig(inChannels: 6, baseChannels: 8, mults: [1, 2], resBlocks: 1, attnResolutions: [4],
                                  heads: 1, condDim: 2 + conditioner.settings.levelFeatures, outChannels: 3, resolution: 8, groups: 4)
        var settings = DDPMTrainingSettings()
        settings.steps = 3; settings.batch = 2; settings.timesteps = 100; settings.checkpointEvery = 0
        let up = UNetDenoiser(config: upConfig, seed: 2)
        let before = up.parameters.map(\.value)
        let trainer = DDPMTrainer(model: up, settings: settings)
        let loss = try trainer.run(data: UpsamplerTrainingSet(images: images, cond: cond, conditioner: conditioner))
        #expect(loss.isFinite && up.parameters.map(\.value) != before)

        let baseConfig = UNetConfig(inChannels: 3, baseChannels: 8, mults: [1], resBlocks: 1, attnResolutions: [],
                                    heads: 1, condDim: 2, outChannels: 3, resolution: 4, groups: 4)
        let sampler = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 5, guidance: 2))
        let cascade = Cascade(base: UNetDenoiser(config: baseConfig, seed: 3), baseSampler: sampler, upsampler: up,
                              upsamplerSampler: sampler, conditioner: conditioner, finalSize: (8, 8))
        let (low, final) = cascade.sample(cond: Batch.slice(cond, 0..<2), channels: 3, seed: 5)
        #expect(low.shape == [2, 3, 4, 4] && final.shape == [2, 3, 8, 8])
        #expect(final.data.allSatisfy { $0.isFinite && $0 >= -1 && $0 <= 1 })
    }
}
