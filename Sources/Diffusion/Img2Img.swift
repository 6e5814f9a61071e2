import Tensors

/// Image-to-image translation (Wang et al. 2024, "from majority to minority"): a real image is noised to
/// strength s ∈ (0, 1] — timestep t₀ = round(s·(T−1)) — and denoised from there with the conditioning
/// vector of a *different* attribute value (same label), so the lesion/anatomy of the source survives
/// while the conditioned attribute changes. s = 0 returns the input unchanged; s = 1 is nearly a fresh
/// sample.
public enum Img2Img {
    /// Translates `images` [N, C, H, W] in [−1, 1] under `cond` [N, F] (the target condition).
    /// Sample i draws its forward noise and all later noise from RNG(seed).split(firstIndex + i).
    /// The sampler's kind decides the path: DDPM walks t₀, t₀−1, …, 0; DDIM starts at t₀ and continues on
    /// its evenly spaced grid below t₀.
    public static func translate(model: Denoiser, sampler: Sampler, images: Tensor, strength s: Double,
                                 cond: Tensor, nullCond: Tensor? = nil, lowRes: Tensor? = nil,
                                 seed: UInt64, firstIndex: Int = 0, progress: SamplingProgress? = nil) -> Tensor {
        precondition(images.rank == 4 && cond.rank == 2 && cond.shape[0] == images.shape[0],
                     "translate: images \(images.shape), cond \(cond.shape)")
        precondition(s >= 0 && s <= 1, "img2img strength must be in [0, 1], got \(s)")
        if s == 0 { return images }
        let t0 = sampler.schedule.timestep(strength: s)
        let n = images.shape[0]
        var rngs = Sampler.sampleRNGs(seed: seed, firstIndex: firstIndex, count: n)
        var noise = Tensor(zeros: images.shape)
        Sampler.fillNoise(&noise, rngs: &rngs)
        let xt = sampler.schedule.addNoise(images, noise: noise, t: [Int](repeating: t0, count: n))
        return sampler.denoise(model: model, from: xt, timesteps: sampler.timesteps(from: t0), cond: cond,
                               nullCond: nullCond, lowRes: lowRes, rngs: &rngs, progress: progress)
    }
}
