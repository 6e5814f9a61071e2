import Distributed
import Foundation
import Models
import NN
import Testing
import Tensors
@testable import Diffusion

/// Micro-batches and data parallelism of `DDPMTrainer` (docs/mpi.md): N ranks give one process's bytes.
@Suite struct MicroBatchTests {
    static func unet() -> UNetDenoiser {
        UNetDenoiser(config: UNetConfig(inChannels: 1, baseChannels: 8, mults: [1, 2], resBlocks: 1, attnResolutions: [4],
                                        heads: 1, condDim: 2, outChannels: 1, resolution: 8, groups: 2), seed: 3)
    }

    static func dataset() -> ImageTrainingSet {
        var rng = RNG(seed: 4)
        var x = Tensor(zeros: [12, 1, 8, 8])
        x.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let cond = Tensor(shape: [12, 2], data: (0..<12).flatMap { $0 % 3 == 0 ? [Float(1), 0] : [0, 1] })
        return ImageTrainingSet(images: x, cond: cond, horizontalFlip: true, condDrop: 0.25)
    }

    static func settings(micro: Int?) -> DDPMTrainingSettings {
        var s = TrainerTests.settings()
        s.steps = 4; s.batch = 4; s.microBatches = micro
        return s
    }

    /// Runs `settings` on `ranks` loopback ranks (one thread each) and returns every rank's trainer.
    static func runLoopback(ranks: Int, settings: DDPMTrainingSettings, checkpoint: @escaping (Int) -> String?) throws -> [DDPMTrainer] {
        let data = dataset()
        let results = LoopbackGroup(size: ranks).run { r, comm in
            let trainer = DDPMTrainer(model: unet(), settings: settings, communicator: comm)
            try Parallel.withThreads(1) { _ = try trainer.run(data: data, checkpointPath: checkpoint(r)) }
            return trainer
        }
        return try results.map { try $0.get() }
    }

    /// Two micro-batches in one process and the same two split over 2 loopback ranks end with identical
    /// weights, EMA and AdamW moments on every rank; only rank 0 writes its checkpoint.
    @Test func twoRanksEqualOneProcess() throws {
        let s = Self.settings(micro: 2)
        let single = DDPMTrainer(model: Self.unet(), settings: s)
        let onePath = TrainerTests.tmp("micro-one.safetensors")
        try Parallel.withThreads(1) { _ = try single.run(data: Self.dataset(), checkpointPath: onePath) }
        let paths = (0..<2).map { TrainerTests.tmp("micro-rank\($0).safetensors") }
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
        let ranks = try Self.runLoopback(ranks: 2, settings: s, checkpoint: { paths[$0] })
        for t in ranks {
            #expect(t.step == 4)
            for (a, b) in zip(single.model.parameters, t.model.parameters) { #expect(a.value.data == b.value.data, "\(a.name)") }
            #expect(t.ema.values.map(\.data) == single.ema.values.map(\.data))
            #expect(t.optimizer.expAvg.map(\.data) == single.optimizer.expAvg.map(\.data))
            #expect(t.optimizer.expAvgSq.map(\.data) == single.optimizer.expAvgSq.map(\.data))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: paths[0])) == Data(contentsOf: URL(fileURLWithPath: onePath)))
        #expect(!FileManager.default.fileExists(atPath: paths[1]), "rank 1 must not write checkpoints")
        // the comparison can fail: one micro-batch (today's default) sums in another order
        let whole = DDPMTrainer(model: Self.unet(), settings: Self.settings(micro: nil))
        try whole.run(data: Self.dataset())
        #expect(whole.model.parameters.map(\.value.data) != single.model.parameters.map(\.value.data))
        for p in paths + [onePath] { try? FileManager.default.removeItem(atPath: p) }
    }

    /// Four micro-batches over 2 ranks (two each) also match one process running the four.
    @Test func fourMicroBatchesOverTwoRanks() throws {
        let s = Self.settings(micro: 4)
        let single = DDPMTrainer(model: Self.unet(), settings: s)
        try single.run(data: Self.dataset())
        let ranks = try Self.runLoopback(ranks: 2, settings: s, checkpoint: { _ in nil })
        for t in ranks { #expect(t.model.parameters.map(\.value.data) == single.model.parameters.map(\.value.data)) }
    }

    /// The upsampler's data (random low-resolution augmentation per row, 2-channel input) split over 2 ranks
    /// also gives one process's weights: every rank draws the whole batch's augmentation.
    @Test func upsamplerTwoRanksEqualOneProcess() throws {
        let conditioner = UpsamplerConditioner(schedule: NoiseSchedule(kind: .cosine, steps: 100), baseSize: (4, 4))
        var imgs = Tensor(zeros: [6, 1, 8, 8])
        var rng = RNG(seed: 8)
        imgs.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let data = UpsamplerTrainingSet(images: imgs, cond: Tensor(repeating: 1, shape: [6, 2]), conditioner: conditioner,
                                        horizontalFlip: true, condDrop: 0.3)
        let config = UNetConfig(inChannels: 2, baseChannels: 8, mults: [1, 2], resBlocks: 1, attnResolutions: [], heads: 1,
                                condDim: 2 + conditioner.settings.levelFeatures, outChannels: 1, resolution: 8, groups: 2)
        let s = Self.settings(micro: 2)
        let single = DDPMTrainer(model: UNetDenoiser(config: config, seed: 4), settings: s)
        try single.run(data: data)
        let ranks = LoopbackGroup(size: 2).run { _, comm in
            let t = DDPMTrainer(model: UNetDenoiser(config: config, seed: 4), settings: s, communicator: comm)
            try Parallel.withThreads(1) { _ = try t.run(data: data) }
            return t
        }
        for r in ranks {
            let t = try r.get()
            #expect(t.model.parameters.map(\.value.data) == single.model.parameters.map(\.value.data))
            #expect(t.ema.values.map(\.data) == single.ema.values.map(\.data))
        }
    }

    /// The summed micro-batch gradient is the whole batch's mean-loss gradient (uneven split 1+1+2 of 4
    /// rows included), up to float rounding; the loss is the batch loss.
    @Test func microBatchGradientIsBatchGradient() throws {
        let model = Self.unet()
        var x = Tensor(zeros: [4, 1, 8, 8]), target = Tensor(zeros: [4, 1, 8, 8])
        var rng = RNG(seed: 9)
        x.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        target.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let cond = Tensor(shape: [4, 2], data: [1, 0, 0, 1, 0, 0, 1, 0]), t = [3, 50, 97, 20]
        for p in model.parameters { p.zeroGrad() }
        let (loss, grad) = Losses.mse(model.forward(x, t: t, cond: cond), target)
        model.backward(grad)
        let reference = model.parameters.map(\.grad.data)
        let trainer = DDPMTrainer(model: model, settings: Self.settings(micro: 3))
        let microLoss = trainer.microBatchGradients(input: x, t: t, cond: cond, target: target)
        #expect(abs(microLoss - loss) <= 1e-5 * loss)
        #expect(DDPMTrainer.rows(micro: 0, of: 3, batch: 4) == 0..<1 && DDPMTrainer.rows(micro: 2, of: 3, batch: 4) == 2..<4)
        for (p, r) in zip(model.parameters, reference) {
            let scale = r.map(abs).max() ?? 0
            let err = zip(p.grad.data, r).map { abs($0 - $1) }.max() ?? 0
            #expect(err <= 1e-4 * max(scale, 1e-6), "\(p.name): \(err) vs max \(scale)")
        }
    }

    /// The default (1) stays out of the checkpoint's config JSON, so existing checkpoints keep their bytes;
    /// a count the ranks cannot share is refused with the manifest key in the message.
    @Test func defaultOmittedAndBadCountsRefused() throws {
        let t = DDPMTrainer(model: Self.unet(), settings: Self.settings(micro: 1))
        #expect(t.settings.microBatches == nil && !t.configJSON.contains("microBatches"))
        #expect(DDPMTrainer(model: Self.unet(), settings: Self.settings(micro: 2)).configJSON.contains("\"microBatches\":2"))
        #expect(throws: MicroBatchError.self) {
            try MicroBatchError.check(microBatches: 3, batch: 4, ranks: 2, key: "pipeline.ddpm.micro_batches")
        }
        do {
            try MicroBatchError.check(microBatches: 3, batch: 4, ranks: 2, key: "pipeline.ddpm.micro_batches")
        } catch {
            #expect("\(error)".contains("pipeline.ddpm.micro_batches") && "\(error)".contains("2 MPI ranks"))
        }
        #expect(throws: MicroBatchError.self) { try MicroBatchError.check(microBatches: 5, batch: 4, ranks: 1, key: "k") }
        try MicroBatchError.check(microBatches: 4, batch: 4, ranks: 2, key: "k")
    }
}
