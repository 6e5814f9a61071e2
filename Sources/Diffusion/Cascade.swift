import Tensors

/// The full cascade: a base sample at base resolution, then the upsampler conditioned on it.
///
/// Both stages take the same conditioning vector (labels ⊕ attributes); the upsampler's vector is extended
/// with the features of its fixed sampling noise level, and its guidance null vector keeps those features
/// (only the label/attribute part is "dropped").
public struct Cascade {
    public let base: Denoiser
    public let baseSampler: Sampler
    public let upsampler: Denoiser
    public let upsamplerSampler: Sampler
    public let conditioner: UpsamplerConditioner
    /// Final resolution, height × width.
    public let finalSize: (h: Int, w: Int)

    public init(base: Denoiser, baseSampler: Sampler, upsampler: Denoiser, upsamplerSampler: Sampler,
                conditioner: UpsamplerConditioner, finalSize: (h: Int, w: Int)) {
        self.base = base; self.baseSampler = baseSampler; self.upsampler = upsampler
        self.upsamplerSampler = upsamplerSampler; self.conditioner = conditioner; self.finalSize = finalSize
    }

    /// Samples N images with `cond` [N, F] and `channels` image channels. Sample i uses
    /// RNG(seed).split(firstIndex + i) in the base stage; the upsampler stage (its low-res noise and
    /// reverse process) uses the same scheme under the derived seed `seed ^ 0x5550_5341_4D50_4C45`.
    public func sample(cond: Tensor, channels: Int, seed: UInt64, firstIndex: Int = 0,
                       progress: SamplingProgress? = nil) -> (base: Tensor, final: Tensor) {
        let n = cond.shape[0]
        let baseTotal = baseSampler.timesteps().count, upTotal = upsamplerSampler.timesteps().count
        let total = baseTotal + upTotal
        let low = baseSampler.sample(model: base, shape: [n, channels, conditioner.baseSize.h, conditioner.baseSize.w],
                                     cond: cond, seed: seed, firstIndex: firstIndex,
                                     progress: progress.map { p in { k, _ in p(k, total) } })
        let final = refine(low, cond: cond, channels: channels, seed: seed, firstIndex: firstIndex,
                           progress: progress.map { p in { k, _ in p(baseTotal + k, total) } })
        return (low, final)
    }

    /// The upsampler half of `sample`: brings base-resolution images `low` [N, C, h, w] in [−1, 1] (base samples,
    /// or img2img translations) to the final resolution under `cond`, with the same seeding as `sample`.
    public func refine(_ low: Tensor, cond: Tensor, channels: Int, seed: UInt64, firstIndex: Int = 0,
                       progress: ((Int, Int) -> Void)? = nil) -> Tensor {
        let n = cond.shape[0]
        let upTotal = upsamplerSampler.timesteps().count
        let upSeed = seed ^ 0x5550_5341_4D50_4C45
        let s = conditioner.samplingLevel
        var rngs = Sampler.sampleRNGs(seed: upSeed, firstIndex: firstIndex, count: n)
        let up = conditioner.upsample(low, to: finalSize)
        var lowRes = Tensor(zeros: up.shape)
        let m = up.count / n
        for i in 0..<n {
            let one = conditioner.noised(Tensor(shape: Array(up.shape.dropFirst()), data: Array(up.data[(i * m)..<((i + 1) * m)])),
                                         level: s, rng: &rngs[i])
            lowRes.data.replaceSubrange((i * m)..<((i + 1) * m), with: one.data)
        }
        let levels = [Int](repeating: s, count: n)
        let upCond = conditioner.appendLevels(cond, levels: levels)
        let upNull = conditioner.appendLevels(Tensor(zeros: cond.shape), levels: levels)
        var x = Tensor(zeros: [n, channels, finalSize.h, finalSize.w])
        Sampler.fillNoise(&x, rngs: &rngs)
        let final = upsamplerSampler.denoise(model: upsampler, from: x, timesteps: upsamplerSampler.timesteps(),
                                             cond: upCond, nullCond: upNull, lowRes: lowRes, rngs: &rngs,
                                             progress: progress.map { p in { k, _ in p(k, upTotal) } })
        return final
    }
}
