import Foundation
import Tensors

// Low-resolution conditioning of the cascaded upsampler.
//
// Training (Ktena et al., Methods "upsampler"): a real high-res image x ∈ [−1, 1] is turned into its
// conditioning image by
//   (0) downsampling to the base resolution,
//   (1) bilinear upsampling back to the final resolution, anti-aliased with probability 0.5,
//   (2) adding Gaussian noise with probability 0.2, σ = 4 on the 0–255 scale,
//   (3) a 7×7 Gaussian blur with σ = 0.2 (a setting),
//   (4) quantising to 256 levels and (5) scaling to [−1, 1].
// The anti-alias coin decides the flag of both resizes of step (0)+(1): under PyTorch/TF semantics
// anti-aliasing is a no-op when enlarging, so only the shrink can show it (aliased vs. smooth low-res).
//
// On top of that, cascaded diffusion's noise-conditioning augmentation (Ho et al. 2021): the conditioning
// image z is noised to a level s of the same schedule, z_s = √ᾱ_s·z + √(1−ᾱ_s)·ε, and the network is told s
// through `levelFeatures` appended to the conditioning vector (never dropped by classifier-free guidance).
// Training draws s uniformly from 0…round(maxTrainingLevel·(T−1)); sampling uses the fixed
// round(samplingLevel·(T−1)).

/// Settings of the upsampler's conditioning preprocessing (the manifest's `upsampler.aug`).
public struct UpsamplerAugmentSettings: Sendable, Codable, Equatable {
    /// Probability of anti-aliased (vs. plain) bilinear resizing.
    public var antialiasProbability: Float = 0.5
    /// Probability of adding Gaussian pixel noise.
    public var noiseProbability: Float = 0.2
    /// Standard deviation of that noise on the 0–255 scale.
    public var noiseSigma255: Float = 4
    /// Blur kernel size (odd).
    public var blurKernel: Int = 7
    /// Blur standard deviation in pixels (the paper states 0.2).
    public var blurSigma: Float = 0.2
    /// Quantisation levels.
    public var levels: Int = 256
    /// Largest training noise level, as a fraction of the schedule (0 disables the augmentation).
    public var maxTrainingLevel: Double = 0.3
    /// Fixed noise level used at sampling, as a fraction of the schedule.
    public var samplingLevel: Double = 0.05
    /// Number of noise-level features appended to the conditioning vector (even).
    public var levelFeatures: Int = 8

    public init() {}
}

/// The cascaded upsampler's conditioning image and vector construction.
public struct UpsamplerConditioner: Sendable {
    public let settings: UpsamplerAugmentSettings
    public let schedule: NoiseSchedule
    /// Base (low) resolution, height × width.
    public let baseSize: (h: Int, w: Int)

    public init(settings: UpsamplerAugmentSettings = UpsamplerAugmentSettings(), schedule: NoiseSchedule, baseSize: (h: Int, w: Int)) {
        precondition(settings.levelFeatures >= 0 && settings.levelFeatures % 2 == 0, "levelFeatures must be even")
        precondition(settings.maxTrainingLevel >= 0 && settings.maxTrainingLevel <= 1 &&
                     settings.samplingLevel >= 0 && settings.samplingLevel <= 1, "noise levels are fractions in [0, 1]")
        self.settings = settings; self.schedule = schedule; self.baseSize = baseSize
    }

    /// The paper's preprocessing, steps (0)–(5), of one image [C, H, W] in [−1, 1] with its own generator.
    /// Random draws, in order: anti-alias coin, noise coin, then the noise itself if the coin says so.
    public func degrade(_ image: Tensor, rng: inout RNG) -> Tensor {
        precondition(image.rank == 3, "degrade: expected [C, H, W], got \(image.shape)")
        let h = image.shape[1], w = image.shape[2]
        let antialias = rng.uniform() < settings.antialiasProbability
        let addNoise = rng.uniform() < settings.noiseProbability
        var x = image
        x.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = (p[i] + 1) * 0.5 } }   // → [0, 1]
        x = ImageOps.resizeBilinear(x, height: baseSize.h, width: baseSize.w, antialias: antialias)
        x = ImageOps.resizeBilinear(x, height: h, width: w, antialias: antialias)
        if addNoise {
            let sigma = settings.noiseSigma255 / 255
            var z = Tensor(zeros: x.shape)
            z.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
            x.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = p[i] + sigma * z.data[i] } }
        }
        x = ImageOps.gaussianBlur(x, kernelSize: settings.blurKernel, sigma: settings.blurSigma)
        x = ImageOps.quantize(x, levels: settings.levels, low: 0, high: 1)
        x.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = p[i] * 2 - 1 } }         // → [−1, 1]
        return x
    }

    /// A base-resolution batch [N, C, h, w] in [−1, 1] (e.g. base-model samples) brought to `size` the way the
    /// upsampler saw it in training without the random parts: bilinear upsampling, quantised to `levels`.
    public func upsample(_ lowRes: Tensor, to size: (h: Int, w: Int)) -> Tensor {
        var x = lowRes
        x.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = (p[i] + 1) * 0.5 } }
        x = ImageOps.resizeBilinear(x, height: size.h, width: size.w, antialias: false)
        x = ImageOps.quantize(x, levels: settings.levels, low: 0, high: 1)
        x.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = p[i] * 2 - 1 } }
        return x
    }

    /// Timestep of the fixed sampling noise level.
    public var samplingLevel: Int { Int((settings.samplingLevel * Double(schedule.steps - 1)).rounded()) }

    /// Draws a training noise level s ∈ 0…round(maxTrainingLevel·(T−1)).
    public func drawTrainingLevel(rng: inout RNG) -> Int {
        let top = Int((settings.maxTrainingLevel * Double(schedule.steps - 1)).rounded())
        return top == 0 ? 0 : rng.int(below: top + 1)
    }

    /// z_s = √ᾱ_s·z + √(1−ᾱ_s)·ε for one image [C, H, W] (s = 0 is still a tiny amount of noise; the
    /// noise is drawn even then so every level consumes the same random numbers).
    public func noised(_ z: Tensor, level s: Int, rng: inout RNG) -> Tensor {
        var eps = Tensor(zeros: z.shape)
        eps.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let a = Float(schedule.sqrtAlphaBar[s]), b = Float(schedule.sqrtOneMinusAlphaBar[s])
        var out = z
        out.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = a * p[i] + b * eps.data[i] } }
        return out
    }

    /// Features of noise level s: sin/cos(π·2^k·u) for k = 0..<levelFeatures/2, u = s/(T−1).
    public func levelFeatures(_ s: Int) -> [Float] {
        let u = Double(s) / Double(schedule.steps - 1)
        var f: [Float] = []
        for k in 0..<(settings.levelFeatures / 2) {
            let a = Double.pi * Double(1 << k) * u
            f.append(Float(sin(a))); f.append(Float(cos(a)))
        }
        return f
    }

    /// [cond | level features] for a batch with one level per row; `labelWidth` columns are the droppable part.
    public func appendLevels(_ cond: Tensor, levels: [Int]) -> Tensor {
        precondition(cond.rank == 2 && cond.shape[0] == levels.count, "appendLevels: cond \(cond.shape), \(levels.count) levels")
        let f = cond.shape[1], e = settings.levelFeatures
        var out = [Float]()
        out.reserveCapacity(levels.count * (f + e))
        for (i, s) in levels.enumerated() {
            out += cond.data[(i * f)..<((i + 1) * f)]
            out += levelFeatures(s)
        }
        return Tensor(shape: [levels.count, f + e], data: out)
    }

    /// A training example's conditioning: degraded, level-noised image and the level drawn. Random draws
    /// come from `rng` in a fixed order (degrade, level, level noise).
    public func trainingCondition(_ highRes: Tensor, rng: inout RNG) -> (image: Tensor, level: Int) {
        let z = degrade(highRes, rng: &rng)
        let s = drawTrainingLevel(rng: &rng)
        return (noised(z, level: s, rng: &rng), s)
    }
}
