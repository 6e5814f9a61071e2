import Foundation
import NN
import Tensors

// Training loop of the conditional DDPM and of the cascaded upsampler (same loop, other data source).
//
// One step: draw B example indices (with replacement), build the batch (flips, cond dropout, upsampler
// conditioning), t ~ U{0..T−1}, ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, loss = MSE(model(x_t ⊕ low-res, t, c),
// ε or v), backward, clip the global gradient norm, AdamW with linear warm-up, EMA update.
//
// Resume: every random number of step k comes from RNG(seed).split(k) (sub-stream 0 for the data,
// 1 for t and ε), so a run restored from a checkpoint at step k needs no RNG replay. Parameters,
// AdamW moments, EMA averages and the step are restored from the checkpoint, so the resumed run's
// final weights are bit-identical to an uninterrupted run's (same thread count).

/// Settings of a diffusion training run (the manifest's `ddpm` / `upsampler` sections map onto these).
public struct DDPMTrainingSettings: Sendable, Codable, Equatable {
    /// Optimizer steps in total.
    public var steps: Int = 20_000
    /// Minibatch size.
    public var batch: Int = 32
    /// Peak learning rate (after warm-up; constant afterwards).
    public var learningRate: Float = 2e-4
    /// Linear learning-rate warm-up steps.
    public var warmupSteps: Int = 500
    /// AdamW decoupled weight decay.
    public var weightDecay: Float = 0
    /// Global gradient-norm clip.
    public var gradClip: Float = 1
    /// EMA decay of the sampling weights.
    public var ema: Float = 0.9999
    /// EMA warm-up: decay min(ema, (1+n)/(10+n)) after n updates.
    public var emaWarmup: Bool = true
    /// Probability of zeroing a conditioning vector (classifier-free guidance training). Read by the data source.
    public var condDrop: Float = 0.1
    /// Random horizontal flips. Read by the data source.
    public var horizontalFlip: Bool = true
    /// Checkpoint every this many steps (and always at the end); 0 = only at the end.
    public var checkpointEvery: Int = 1000
    /// Seed of every random draw of the run.
    public var seed: UInt64 = 0
    /// Network target.
    public var prediction: Prediction = .epsilon
    /// Noise schedule.
    public var schedule: ScheduleKind = .cosine
    /// Diffusion steps T.
    public var timesteps: Int = 1000

    public init() {}

    /// The settings a checkpoint must agree on to be resumed (length and checkpoint cadence may change).
    func resumeIdentity() -> DDPMTrainingSettings {
        var s = self
        s.steps = 0; s.checkpointEvery = 0
        return s
    }
}

/// One progress report of `DDPMTrainer.run`.
public struct TrainingProgress: Sendable, Equatable {
    /// Steps completed (1-based count).
    public var step: Int
    public var totalSteps: Int
    /// Loss of the step just taken.
    public var loss: Float
    /// Throughput since this `run` call started.
    public var stepsPerSecond: Double
    /// Estimated seconds to `totalSteps` at that throughput.
    public var etaSeconds: Double
}

/// Why a checkpoint could not be resumed.
public struct ResumeError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Trains a `TrainableDenoiser` on a `DiffusionTrainingData`.
public final class DDPMTrainer {
    public let model: TrainableDenoiser
    public let settings: DDPMTrainingSettings
    public let schedule: NoiseSchedule
    public let optimizer: AdamW
    public let ema: EMA
    public let lr: LRSchedule
    /// Steps completed so far.
    public private(set) var step = 0

    public init(model: TrainableDenoiser, settings: DDPMTrainingSettings) {
        precondition(settings.steps >= 1 && settings.batch >= 1, "DDPMTrainer: need steps ≥ 1 and batch ≥ 1")
        self.model = model
        self.settings = settings
        self.schedule = NoiseSchedule(kind: settings.schedule, steps: settings.timesteps)
        self.optimizer = AdamW(parameters: model.parameters, learningRate: settings.learningRate, weightDecay: settings.weightDecay)
        self.ema = EMA(parameters: model.parameters)
        self.lr = .warmupCosine(peak: settings.learningRate, warmupSteps: min(settings.warmupSteps, settings.steps),
                                totalSteps: settings.steps, floor: settings.learningRate)
    }

    /// The settings as the JSON string stored in checkpoints.
    var configJSON: String {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        return String(decoding: (try? enc.encode(settings)) ?? Data(), as: UTF8.self)
    }

    /// The generator of step k's sub-stream `part` (0 = data, 1 = timesteps and noise).
    func stepRNG(_ k: Int, _ part: UInt64) -> RNG {
        RNG(seed: settings.seed).split(UInt64(k)).split(part)
    }

    /// Takes one optimizer step; returns its loss.
    @discardableResult
    public func trainStep(data: DiffusionTrainingData) -> Float {
        let b = settings.batch
        var dataRNG = stepRNG(step, 0)
        let indices = (0..<b).map { _ in dataRNG.int(below: data.count) }
        let batch = data.batch(indices: indices, rng: &dataRNG)

        var noiseRNG = stepRNG(step, 1)
        let t = (0..<b).map { _ in noiseRNG.int(below: schedule.steps) }
        var noise = Tensor(zeros: batch.x0.shape)
        noise.withUnsafeMutableBufferPointer { noiseRNG.fillNormal($0) }
        let xt = schedule.addNoise(batch.x0, noise: noise, t: t)
        let input = batch.lowRes.map { Batch.concatChannels(xt, $0) } ?? xt
        let target = schedule.target(settings.prediction, x0: batch.x0, noise: noise, t: t)

        optimizer.zeroGrad()
        let out = model.forward(input, t: t, cond: batch.cond)
        let (loss, grad) = Losses.mse(out, target)
        model.backward(grad)
        let norm = clipGradNorm(model.parameters, maxNorm: settings.gradClip)
        if norm.isFinite {       // a non-finite gradient skips the update (the step still counts)
            optimizer.learningRate = lr.lr(at: step)
            optimizer.step()
            ema.update(decay: settings.ema, warmup: settings.emaWarmup)
        }
        step += 1
        return loss
    }

    /// Writes a full training checkpoint (weights, AdamW state, EMA, step, settings).
    public func saveCheckpoint(to path: String) throws {
        try TrainingCheckpoint.save(to: path, parameters: model.parameters, optimizer: optimizer, ema: ema,
                                    step: step, config: configJSON)
    }

    /// Restores a checkpoint written by `saveCheckpoint`; the run continues at its step. The checkpoint's
    /// settings must equal these except `steps` and `checkpointEvery`.
    public func resume(from path: String) throws {
        let file = try SafeTensors.read(path: path)
        guard let config = file.metadata["config"],
              let saved = try? JSONDecoder().decode(DDPMTrainingSettings.self, from: Data(config.utf8)) else {
            throw ResumeError(path: path, reason: "metadata \"config\" is missing or not DDPM training settings")
        }
        guard saved.resumeIdentity() == settings.resumeIdentity() else {
            throw ResumeError(path: path, reason: "checkpoint settings \(config) differ from this run's \(configJSON)")
        }
        let state = try TrainingCheckpoint.restore(file, source: path, parameters: model.parameters, optimizer: optimizer, ema: ema)
        step = state.step
    }

    /// Trains until `settings.steps` (or `until`, if smaller — used to simulate an interrupted run),
    /// checkpointing to `checkpointPath` every `checkpointEvery` steps and at the end, reporting through
    /// `progress` after every step. Returns the last loss (NaN if no step ran).
    @discardableResult
    public func run(data: DiffusionTrainingData, checkpointPath: String? = nil, until: Int? = nil,
                    progress: ((TrainingProgress) -> Void)? = nil) throws -> Float {
        let end = min(until ?? settings.steps, settings.steps)
        let start = step
        let clock = ContinuousClock()
        let t0 = clock.now
        var last = Float.nan
        while step < end {
            last = trainStep(data: data)
            if let checkpointPath, step == end || (settings.checkpointEvery > 0 && step % settings.checkpointEvery == 0) {
                try saveCheckpoint(to: checkpointPath)
            }
            if let progress {
                let e = clock.now - t0
                let secs = Double(e.components.seconds) + Double(e.components.attoseconds) * 1e-18
                let rate = secs > 0 ? Double(step - start) / secs : 0
                progress(TrainingProgress(step: step, totalSteps: settings.steps, loss: last, stepsPerSecond: rate,
                                          etaSeconds: rate > 0 ? Double(settings.steps - step) / rate : .infinity))
            }
        }
        return last
    }

    /// Copies the EMA weights into `target` (e.g. a second model instance used for sampling).
    public func copyEMA(into target: [Parameter]) { ema.copy(into: target) }
}
