import Diffusion
import Models
import NN
import Tensors
#if canImport(Glibc)
/// glibc's `mallopt` (malloc.h is not part of the Glibc module); option codes from malloc.h.
@_silgen_name("mallopt") private func glibcMallopt(_ option: Int32, _ value: Int32) -> Int32
private let mTrimThreshold: Int32 = -1, mMmapThreshold: Int32 = -3
#endif

/// Workloads beyond W1–W5 that go through the Diffusion module's real code paths (not part of
/// `fairgen bench all`, which mirrors `shared/bench/torch_reference.py` exactly):
///  - `ddim50`: one full DDIM-50 sampling run (η = 0, guidance 1 = one forward per step) of 64 images at
///    32×32 with the W1/W3 reference UNet, through `Sampler.sample`. Its PyTorch counterpart is 50 × W3.
///  - `upsampler`: one `DDPMTrainer.trainStep` of the cascaded 64→128 upsampler, batch 4: the batch is
///    built by `UpsamplerTrainingSet` (degraded 64×64 low-res, upsampled back to 128 and concatenated,
///    noise-level features appended to the condition), ε-MSE, backward, gradient clip, AdamW, EMA.
public enum DiffusionWorkloads {
    /// Workload names, in the order `fairgen bench` lists them.
    public static let names = ["ddim50", "upsampler"]

    /// (timed steps, warm-up steps) used when the command line gives none: a DDIM-50 run takes minutes.
    public static func defaultSteps(_ w: String) -> (steps: Int, warmup: Int) {
        w == "ddim50" ? (1, 0) : (3, 1)
    }

    /// Runs workload `w` ("ddim50" or "upsampler"): `warmup` untimed then `steps` timed repetitions.
    /// For `ddim50` one repetition is a whole 50-step sample, so `step_seconds_*` are seconds per sample
    /// and `images_per_second` = 64 / median.
    public static func run(_ w: String, threads: Int, steps: Int, warmup: Int) -> BenchResult {
        configure(threads: threads)
        switch w {
        case "ddim50": return ddim50(threads: threads, steps: steps, warmup: warmup)
        case "upsampler": return upsampler(threads: threads, steps: steps, warmup: warmup)
        default: preconditionFailure("DiffusionWorkloads: unknown workload \(w)")
        }
    }

    /// Thread counts and the allocator setting the W1–W3 workloads use, so the numbers are comparable.
    static func configure(threads: Int) {
        BLAS.setThreads(threads)
        Parallel.threads = threads
        #if canImport(Glibc)
        // Keep freed activation buffers in the heap instead of unmapping them (see UNetWorkloads).
        _ = glibcMallopt(mMmapThreshold, 32 << 20)
        _ = glibcMallopt(mTrimThreshold, 1 << 30)
        #endif
    }

    /// Random one-hot rows [n, k].
    static func oneHot(_ n: Int, _ k: Int, rng: inout RNG) -> Tensor {
        var c = Tensor(zeros: [n, k])
        for b in 0..<n { c.data[b * k + rng.int(below: k)] = 1 }
        return c
    }

    /// DDIM-50 over the linear schedule of W1 (the cost does not depend on the schedule), batch 64 at 32×32.
    static func ddim50(threads: Int, steps: Int, warmup: Int) -> BenchResult {
        let batch = 64
        let config = UNetConfig.reference(resolution: 32)
        let model = UNetDenoiser(config: config, seed: 0)
        var rng = RNG(seed: 1)
        let cond = oneHot(batch, config.condDim, rng: &rng)
        let sampler = Sampler(schedule: NoiseSchedule(kind: .linear, steps: 1000), prediction: .epsilon,
                              settings: SamplerSettings(kind: .ddim, steps: 50, guidance: 1))
        var seed: UInt64 = 0
        let times = Bench.time(steps: steps, warmup: warmup) {
            let x = sampler.sample(model: model, shape: [batch, config.outChannels, 32, 32], cond: cond, seed: seed)
            precondition(x.data.allSatisfy { $0.isFinite }, "ddim50: non-finite sample")
            seed &+= 1
        }
        return BenchResult(workload: "ddim50", params: model.unet.parameterCount, stepSeconds: times, batch: batch,
                           gflopPerStep: nil, threads: threads)
    }

    /// The upsampler network: the reference width and multipliers at 128×128 (levels 128, 64, 32, so the
    /// reference's attention at 16×16 never applies), input 6 = noisy RGB ⊕ upsampled low-res RGB,
    /// condition = the W1 one-hot (10) + the noise-level features.
    public static func upsamplerConfig(augment: UpsamplerAugmentSettings = UpsamplerAugmentSettings()) -> UNetConfig {
        var config = UNetConfig.reference(resolution: 128)
        config.inChannels = 6
        config.outChannels = 3
        config.condDim = UNetConfig.reference(resolution: 32).condDim + augment.levelFeatures
        return config
    }

    /// One upsampler training step per repetition, batch 4 drawn from 8 fixed random 128×128 images.
    static func upsampler(threads: Int, steps: Int, warmup: Int) -> BenchResult {
        let batch = 4, examples = 8, side = 128
        let augment = UpsamplerAugmentSettings()
        let config = upsamplerConfig(augment: augment)
        let model = UNetDenoiser(config: config, seed: 0)
        var settings = DDPMTrainingSettings()
        settings.batch = batch
        settings.steps = steps + warmup
        settings.prediction = .epsilon
        let trainer = DDPMTrainer(model: model, settings: settings)

        var rng = RNG(seed: 1)
        var images = Tensor(zeros: [examples, 3, side, side])
        images.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let cond = oneHot(examples, config.condDim - augment.levelFeatures, rng: &rng)
        let conditioner = UpsamplerConditioner(settings: augment, schedule: trainer.schedule, baseSize: (h: side / 2, w: side / 2))
        let data = UpsamplerTrainingSet(images: images, cond: cond, conditioner: conditioner,
                                        horizontalFlip: settings.horizontalFlip, condDrop: settings.condDrop)
        let times = Bench.time(steps: steps, warmup: warmup) {
            let loss = trainer.trainStep(data: data)
            precondition(loss.isFinite, "upsampler: non-finite loss")
        }
        return BenchResult(workload: "upsampler", params: model.unet.parameterCount, stepSeconds: times, batch: batch,
                           gflopPerStep: nil, threads: threads)
    }
}
