import Foundation
import NN
import Testing
import Tensors
@testable import Diffusion

@Suite struct TrainerTests {
    static func dataset() -> ImageTrainingSet {
        var rng = RNG(seed: 1)
        var x = Tensor(zeros: [10, 1, 6, 6])
        x.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let cond = Tensor(shape: [10, 2], data: (0..<10).flatMap { $0 % 2 == 0 ? [Float(1), 0] : [0, 1] })
        return ImageTrainingSet(images: x, cond: cond, horizontalFlip: true, condDrop: 0.2)
    }

    static func settings() -> DDPMTrainingSettings {
        var s = DDPMTrainingSettings()
        s.steps = 12; s.batch = 4; s.learningRate = 1e-2; s.warmupSteps = 3; s.weightDecay = 0.01
        s.ema = 0.9; s.checkpointEvery = 5; s.seed = 77; s.timesteps = 100; s.prediction = .v
        return s
    }

    static func tmp(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-diffusion-\(getpid())-\(name)").path
    }

    /// A run killed after step 8 and restarted from its step-5 checkpoint (with a differently initialised model)
    /// ends with exactly the weights, EMA and optimizer state of an uninterrupted run.
    @Test func resumeEqualsUninterrupted() throws {
        let data = Self.dataset()
        let full = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 5), settings: Self.settings())
        let fullPath = Self.tmp("full.safetensors")
        var reports: [TrainingProgress] = []
        try full.run(data: data, checkpointPath: fullPath) { reports.append($0) }
        #expect(reports.map(\.step) == Array(1...12) && reports.allSatisfy { $0.loss.isFinite && $0.totalSteps == 12 })
        #expect(reports.last?.etaSeconds == 0 && reports[0].stepsPerSecond > 0)

        let killedPath = Self.tmp("killed.safetensors"), keptPath = Self.tmp("kept.safetensors")
        let killed = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 5), settings: Self.settings())
        try killed.run(data: data, checkpointPath: killedPath, until: 8) { p in
            if p.step == 5 { try? FileManager.default.removeItem(atPath: keptPath); try? FileManager.default.copyItem(atPath: killedPath, toPath: keptPath) }
        }
        let resumed = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 999), settings: Self.settings())
        try resumed.resume(from: keptPath)
        #expect(resumed.step == 5)
        try resumed.run(data: data)
        #expect(resumed.step == 12)
        for (a, b) in zip(full.model.parameters, resumed.model.parameters) { #expect(a.value == b.value, "\(a.name)") }
        #expect(full.ema.values == resumed.ema.values)
        #expect(full.optimizer.expAvgSq == resumed.optimizer.expAvgSq)
        // the final checkpoint of the uninterrupted run holds step 12 and the same weights
        let reloaded = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 1), settings: Self.settings())
        try reloaded.resume(from: fullPath)
        #expect(reloaded.step == 12 && reloaded.model.parameters.map(\.value) == full.model.parameters.map(\.value))
        // and a different run (other seed) does not match — the comparison can fail
        var other = Self.settings(); other.seed = 78
        let different = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 5), settings: other)
        try different.run(data: data)
        #expect(different.model.parameters[0].value != full.model.parameters[0].value)
        for p in [fullPath, killedPath, keptPath] { try? FileManager.default.removeItem(atPath: p) }
    }

    @Test func resumeRejectsOtherSettings() throws {
        let path = Self.tmp("other.safetensors")
        let t = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 5), settings: Self.settings())
        try t.run(data: Self.dataset(), checkpointPath: path, until: 1)
        var s = Self.settings(); s.learningRate = 5e-3
        let u = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 5), settings: s)
        #expect(throws: ResumeError.self) { try u.resume(from: path) }
        var longer = Self.settings(); longer.steps = 50
        let v = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, steps: 100, seed: 5), settings: longer)
        try v.resume(from: path)
        #expect(v.step == 1)
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The loss falls when fitting a fixed tiny dataset; the upsampler variant trains on 2-channel input.
    @Test func lossDecreasesAndUpsamplerRuns() throws {
        var s = Self.settings()
        s.steps = 150; s.prediction = .epsilon; s.learningRate = 5e-3; s.ema = 0.99; s.checkpointEvery = 0
        let t = DDPMTrainer(model: TinyDenoiser(inChannels: 1, outChannels: 1, condDim: 2, hidden: 16, steps: 100, seed: 5), settings: s)
        var losses: [Float] = []
        try t.run(data: Self.dataset()) { losses.append($0.loss) }
        let first = losses.prefix(20).reduce(0, +) / 20, last = losses.suffix(20).reduce(0, +) / 20
        #expect(last < 0.8 * first, "first \(first) last \(last)")

        let sched = NoiseSchedule(kind: .cosine, steps: 100)
        let conditioner = UpsamplerConditioner(schedule: sched, baseSize: (3, 3))
        var imgs = Tensor(zeros: [4, 1, 6, 6])
        var rng = RNG(seed: 3)
        imgs.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let upData = UpsamplerTrainingSet(images: imgs, cond: Tensor(repeating: 1, shape: [4, 2]), conditioner: conditioner)
        var us = Self.settings(); us.steps = 3; us.checkpointEvery = 0
        let model = TinyDenoiser(inChannels: 2, outChannels: 1, condDim: 2 + 8, steps: 100, seed: 2)
        let ut = DDPMTrainer(model: model, settings: us)
        let loss = try ut.run(data: upData)
        #expect(loss.isFinite && ut.step == 3)
    }
}
