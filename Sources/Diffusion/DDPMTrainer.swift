import Distributed
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
//
// Micro-batches and data parallelism (docs/mpi.md): with `microBatches` M > 1 the batch is cut into M fixed
// row ranges; each one's forward/backward fills its own gradient, and the M gradients are summed in the
// order 0..M−1. Under N ranks (M % N == 0) rank r computes micro-batches r·M/N ..< (r+1)·M/N; the ranks
// exchange them so that every gradient element is summed over 0..M−1 in that same order (by the rank that
// owns the element's slice) — so N ranks give the bytes of one process.
// Every rank draws the whole batch (indices, flips, conditioning drop, t, ε) from the same step stream.

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
    /// Fixed micro-batches per batch (nil means 1: the whole batch in one forward/backward). Optional so
    /// that the default stays out of the checkpoint's config JSON: checkpoints written before it existed,
    /// and their bytes, are unchanged.
    public var microBatches: Int? = nil

    /// `microBatches`, 1 when unset.
    public var microBatchCount: Int { microBatches ?? 1 }

    public init() {}

    /// The settings a checkpoint must agree on to be resumed (length and checkpoint cadence may change).
    func resumeIdentity() -> DDPMTrainingSettings {
        var s = self
        s.steps = 0; s.checkpointEvery = 0
        if s.microBatches == 1 { s.microBatches = nil }
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

/// A micro-batch count that the batch size or the number of ranks does not allow.
public struct MicroBatchError: Error, CustomStringConvertible {
    public var description: String

    /// Checks `microBatches` (the manifest key `key`, e.g. `pipeline.ddpm.micro_batches`) against the batch
    /// size and the number of ranks: 1 ≤ M ≤ batch and M a multiple of the ranks, so every rank gets the
    /// same number of micro-batches.
    public static func check(microBatches m: Int, batch: Int, ranks: Int, key: String) throws {
        guard m >= 1, m <= batch else {
            throw MicroBatchError(description: "\(key) is \(m); expected 1 to the batch size \(batch)")
        }
        guard m % ranks == 0 else {
            throw MicroBatchError(description: "\(key) is \(m), not a multiple of the \(ranks) MPI ranks; set it to a multiple of the rank count (e.g. \(ranks * max(1, (m + ranks - 1) / ranks)))")
        }
    }
}

/// Trains a `TrainableDenoiser` on a `DiffusionTrainingData`.
public final class DDPMTrainer {
    public let model: TrainableDenoiser
    public let settings: DDPMTrainingSettings
    public let schedule: NoiseSchedule
    public let optimizer: AdamW
    public let ema: EMA
    public let lr: LRSchedule
    /// The ranks this trainer's gradients are shared with (`SingleProcess` unless started under MPI).
    public let communicator: any Communicator
    /// Steps completed so far.
    public private(set) var step = 0

    /// A trainer. `settings.microBatches` must pass `MicroBatchError.check` for `communicator.size` ranks
    /// (callers with a manifest key check first, to name it in the error).
    public init(model: TrainableDenoiser, settings: DDPMTrainingSettings, communicator: any Communicator = SingleProcess()) {
        precondition(settings.steps >= 1 && settings.batch >= 1, "DDPMTrainer: need steps ≥ 1 and batch ≥ 1")
        var settings = settings
        if settings.microBatches == 1 { settings.microBatches = nil }      // one encoding for the default
        let m = settings.microBatchCount
        precondition(m <= settings.batch && m % communicator.size == 0,
                     "DDPMTrainer: \(m) micro-batches for batch \(settings.batch) over \(communicator.size) ranks")
        self.model = model
        self.communicator = communicator
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

        let loss: Float
        if settings.microBatchCount == 1 && communicator.size == 1 {
            optimizer.zeroGrad()
            let out = model.forward(input, t: t, cond: batch.cond)
            let (l, grad) = Losses.mse(out, target)
            model.backward(grad)
            loss = l
        } else {
            loss = microBatchGradients(input: input, t: t, cond: batch.cond, target: target)
        }
        let norm = clipGradNorm(model.parameters, maxNorm: settings.gradClip)
        if norm.isFinite {       // a non-finite gradient skips the update (the step still counts)
            optimizer.learningRate = lr.lr(at: step)
            optimizer.step()
            ema.update(decay: settings.ema, warmup: settings.emaWarmup)
        }
        step += 1
        return loss
    }

    /// Fills the parameters' gradients with the sum, in micro-batch order, of the M micro-batch gradients;
    /// returns the batch loss. Each micro-batch's loss gradient is weighted by its share of the batch's rows,
    /// so the sum is the gradient of the batch mean.
    ///
    /// The exchange is a deterministic reduce-scatter + allgather: the flat gradient (plus the loss) is cut
    /// into one slice per rank; `alltoall` gives rank s slice s of all M micro-batch gradients, in micro-batch
    /// order; rank s sums them in the order 0..M−1; `allgather` then hands every rank all summed slices.
    /// Every element is the same sum g₀ + g₁ + … + g_{M−1} as in one process, and each rank moves about two
    /// gradients' worth of bytes per step, like a ring all-reduce (docs/mpi.md).
    func microBatchGradients(input: Tensor, t: [Int], cond: Tensor, target: Tensor) -> Float {
        let b = settings.batch, m = settings.microBatchCount
        let ranks = communicator.size, perRank = m / ranks
        let params = model.parameters
        let width = params.reduce(0) { $0 + $1.grad.count } + 1          // gradients, then the weighted loss
        let slice = (width + ranks - 1) / ranks                          // padded to equal blocks
        var send = [Float](repeating: 0, count: ranks * perRank * slice) // [destination][local micro-batch][slice]
        for j in 0..<perRank {
            let rows = Self.rows(micro: communicator.rank * perRank + j, of: m, batch: b)
            optimizer.zeroGrad()
            let out = model.forward(Self.slice(input, rows), t: Array(t[rows]), cond: Self.slice(cond, rows))
            var (l, grad) = Losses.mse(out, Self.slice(target, rows))
            let weight = Float(rows.count) / Float(b)
            grad.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= weight } }
            model.backward(grad)
            l *= weight
            var flat = [Float]()
            flat.reserveCapacity(width)
            for p in params { flat.append(contentsOf: p.grad.data) }
            flat.append(l)
            for d in 0..<ranks {
                let lo = d * slice, hi = min(width, lo + slice)
                guard lo < hi else { continue }
                let at = (d * perRank + j) * slice
                send.replaceSubrange(at..<(at + hi - lo), with: flat[lo..<hi])
            }
        }
        // [source rank][its micro-batches][my slice] = my slice of micro-batches 0..M−1, in order.
        let mine = communicator.alltoall(send)
        var summed = Array(mine[0..<slice])
        mine.withUnsafeBufferPointer { a in
            for k in 1..<m {
                let base = k * slice
                for i in 0..<slice { summed[i] += a[base + i] }
            }
        }
        let full = communicator.allgather(summed)                       // [rank][slice], padding at the end
        var offset = 0
        for p in params {
            let n = p.grad.count
            full.withUnsafeBufferPointer { a in
                p.grad.withUnsafeMutableBufferPointer { g in for i in 0..<n { g[i] = a[offset + i] } }
            }
            offset += n
        }
        return full[width - 1]
    }

    /// Rows of micro-batch `k` of `m` in a batch of `b`: fixed contiguous ranges, [k·b/m, (k+1)·b/m).
    static func rows(micro k: Int, of m: Int, batch b: Int) -> Range<Int> { (k * b / m)..<((k + 1) * b / m) }

    /// Rows `rows` of `t` (first axis).
    static func slice(_ t: Tensor, _ rows: Range<Int>) -> Tensor {
        let stride = t.count / t.shape[0]
        return Tensor(shape: [rows.count] + t.shape.dropFirst(),
                      data: Array(t.data[(rows.lowerBound * stride)..<(rows.upperBound * stride)]))
    }

    /// Writes a full training checkpoint (weights, AdamW state, EMA, step, settings) — on rank 0 only: the
    /// other ranks hold the same bytes and return without writing, so N ranks never race on one file.
    public func saveCheckpoint(to path: String) throws {
        guard communicator.isWriter else { return }
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
