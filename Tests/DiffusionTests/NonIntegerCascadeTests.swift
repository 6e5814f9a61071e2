import Models
import Tensors
import Testing
@testable import Diffusion

/// The cascaded upsampler at a non-integer factor (the paper's radiology 64 → 224 is ×3.5): here 8 → 14 (×1.75).
@Suite struct NonIntegerCascadeTests {
    /// The conditioning image is the low-resolution image bilinearly resized to the exact final grid — in
    /// training (degrade) and in sampling (upsample) — so any ratio works; a training step and a full
    /// cascade sample run through a tiny UNet upsampler end to end.
    @Test func upsamplerTrainsAndSamplesFrom8To14() throws {
        let sched = NoiseSchedule(kind: .cosine, steps: 100)
        let conditioner = UpsamplerConditioner(schedule: sched, baseSize: (8, 8))
        var rng = RNG(seed: 3)
        var images = Tensor(zeros: [4, 1, 14, 14])
        images.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let cond = Tensor(shape: [4, 2], data: [1, 0, 0, 1, 1, 0, 0, 1])

        // Training: the low-res input of each example is on the 14×14 grid, made from an 8×8 intermediate.
        let set = UpsamplerTrainingSet(images: images, cond: cond, conditioner: conditioner, horizontalFlip: false, condDrop: 0)
        var batchRNG = RNG(seed: 9)
        let batch = set.batch(indices: [0, 1], rng: &batchRNG)
        #expect(batch.x0.shape == [2, 1, 14, 14] && batch.lowRes?.shape == [2, 1, 14, 14])
        // Sampling: base samples are resized to exactly 14×14 with bilinear interpolation (then quantised).
        var low = Tensor(zeros: [1, 1, 8, 8])
        for i in 0..<64 { low.data[i] = Float(i % 8) / 7 * 2 - 1 }
        let up = conditioner.upsample(low, to: (14, 14))
        let reference = ImageOps.quantize(ImageOps.resizeBilinear(Tensor(shape: low.shape, data: low.data.map { ($0 + 1) / 2 }),
                                                                  height: 14, width: 14, antialias: false))
        #expect(up.shape == [1, 1, 14, 14])
        #expect(zip(up.data, reference.data).allSatisfy { abs($0 - ($1 * 2 - 1)) < 1e-6 })

        // 14 = 2 × 7: one downsampling level (mults [1, 2]) lands on whole pixels.
        let upConfig = UNetConfig(inChannels: 2, baseChannels: 8, mults: [1, 2], resBlocks: 1, attnResolutions: [],
                                  heads: 1, condDim: 2 + conditioner.settings.levelFeatures, outChannels: 1, resolution: 14, groups: 4)
        var settings = DDPMTrainingSettings()
        settings.steps = 2; settings.batch = 2; settings.timesteps = 100; settings.checkpointEvery = 0
        let model = UNetDenoiser(config: upConfig, seed: 2)
        let before = model.parameters.map(\.value)
        let loss = try DDPMTrainer(model: model, settings: settings).run(data: set)
        #expect(loss.isFinite && model.parameters.map(\.value) != before)

        let baseConfig = UNetConfig(inChannels: 1, baseChannels: 8, mults: [1, 2], resBlocks: 1, attnResolutions: [],
                                    heads: 1, condDim: 2, outChannels: 1, resolution: 8, groups: 4)
        let sampler = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 5, guidance: 1.5))
        let cascade = Cascade(base: UNetDenoiser(config: baseConfig, seed: 3), baseSampler: sampler, upsampler: model,
                              upsamplerSampler: sampler, conditioner: conditioner, finalSize: (14, 14))
        let (base, final) = cascade.sample(cond: Batch.slice(cond, 0..<2), channels: 1, seed: 5)
        #expect(base.shape == [2, 1, 8, 8] && final.shape == [2, 1, 14, 14])
        #expect(final.data.allSatisfy { $0.isFinite && $0 >= -1 && $0 <= 1 })
        // Deterministic: the same seed gives the same bytes.
        #expect(cascade.sample(cond: Batch.slice(cond, 0..<2), channels: 1, seed: 5).final == final)
    }
}
