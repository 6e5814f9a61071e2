import Tensors

// Reverse-process samplers: ancestral DDPM over every timestep, and DDIM (Song et al. 2021) over an evenly
// spaced subsequence with stochasticity η. Both are batched (one model call per step for the whole batch,
// doubled for guidance) and deterministic given (seed, sample index): sample i draws its initial noise and
// every later noise from its own generator RNG(seed).split(firstIndex + i), so a sample does not change
// when the batch it is generated in changes.

/// Which reverse process to run.
public enum SamplerKind: String, Sendable, Codable, CaseIterable {
    /// Ancestral sampling from p(x_{t−1}|x_t) with variance β̃_t, through all T steps.
    case ddpm
    /// DDIM with `eta` (0 = deterministic) over `steps` evenly spaced timesteps.
    case ddim
}

/// Sampler settings (the manifest's `sample` section maps onto these).
public struct SamplerSettings: Sendable, Codable, Equatable {
    /// `ddim` (default) or `ddpm`.
    public var kind: SamplerKind
    /// DDIM steps (≥ 5; ignored by `ddpm`, which always runs T steps).
    public var steps: Int
    /// DDIM η: 0 deterministic, 1 ≈ ancestral variance.
    public var eta: Double
    /// Classifier-free guidance weight w (1 = plain conditional, 0 = unconditional).
    public var guidance: Float
    /// Clip the predicted x̂₀ to [−1, 1] at every step (images live in [−1, 1]).
    public var clipDenoised: Bool

    public init(kind: SamplerKind = .ddim, steps: Int = 50, eta: Double = 0, guidance: Float = 1, clipDenoised: Bool = true) {
        self.kind = kind; self.steps = steps; self.eta = eta; self.guidance = guidance; self.clipDenoised = clipDenoised
    }
}

/// Progress of a sampling run: `step` of `total` model evaluations done.
public typealias SamplingProgress = (_ step: Int, _ total: Int) -> Void

/// A configured reverse-process sampler over a schedule.
public struct Sampler: Sendable {
    public let schedule: NoiseSchedule
    public let prediction: Prediction
    public let settings: SamplerSettings

    public init(schedule: NoiseSchedule, prediction: Prediction = .epsilon, settings: SamplerSettings = SamplerSettings()) {
        if settings.kind == .ddim {
            precondition(settings.steps >= 5 && settings.steps <= schedule.steps,
                         "DDIM needs 5 ≤ steps ≤ T (\(schedule.steps)), got \(settings.steps)")
            precondition(settings.eta >= 0, "DDIM eta must be ≥ 0")
        }
        self.schedule = schedule; self.prediction = prediction; self.settings = settings
    }

    /// The timesteps visited, in decreasing order, when starting at `start` (default: the top).
    /// DDPM: start, start−1, …, 0. DDIM: DDIM's "uniform" grid {0, c, 2c, …, (S−1)c} with c = ⌊T/S⌋,
    /// keeping entries below `start` and prepending `start` itself when it is not on the grid (img2img).
    public func timesteps(from start: Int? = nil) -> [Int] {
        let T = schedule.steps
        switch settings.kind {
        case .ddpm:
            let s = start ?? (T - 1)
            return Array((0...s).reversed())
        case .ddim:
            let c = T / settings.steps
            let grid = (0..<settings.steps).map { $0 * c }
            guard let start else { return grid.reversed() }
            return [start] + grid.filter { $0 < start }.reversed()
        }
    }

    /// Per-sample generators RNG(seed).split(firstIndex + i), i = 0..<n.
    public static func sampleRNGs(seed: UInt64, firstIndex: Int, count n: Int) -> [RNG] {
        let root = RNG(seed: seed)
        return (0..<n).map { root.split(UInt64(firstIndex + $0)) }
    }

    /// Fills each sample's slice of `x` [N, …] with standard normals from its own generator.
    static func fillNoise(_ x: inout Tensor, rngs: inout [RNG]) {
        let n = x.shape[0], m = x.count / max(n, 1)
        x.withUnsafeMutableBufferPointer { p in
            for i in 0..<n { rngs[i].fillNormal(UnsafeMutableBufferPointer(rebasing: p[(i * m)..<((i + 1) * m)])) }
        }
    }

    /// Draws `shape` = [N, C, H, W] samples from pure noise. `cond` [N, F] conditions each sample,
    /// `nullCond` is the guidance null vector (zeros if nil), `lowRes` [N, C', H, W] is concatenated to the
    /// model input (cascaded upsampler). Sample i uses RNG(seed).split(firstIndex + i).
    public func sample(model: Denoiser, shape: [Int], cond: Tensor, nullCond: Tensor? = nil, lowRes: Tensor? = nil,
                       seed: UInt64, firstIndex: Int = 0, progress: SamplingProgress? = nil) -> Tensor {
        precondition(shape.count == 4 && cond.rank == 2 && cond.shape[0] == shape[0], "sample: shape \(shape), cond \(cond.shape)")
        var rngs = Sampler.sampleRNGs(seed: seed, firstIndex: firstIndex, count: shape[0])
        var x = Tensor(zeros: shape)
        Sampler.fillNoise(&x, rngs: &rngs)
        return denoise(model: model, from: x, timesteps: timesteps(), cond: cond, nullCond: nullCond, lowRes: lowRes,
                       rngs: &rngs, progress: progress)
    }

    /// Runs the reverse process from x at `timesteps[0]` down through `timesteps` and returns x̂₀.
    /// Noise for stochastic steps comes from `rngs[i]` for sample i.
    public func denoise(model: Denoiser, from xStart: Tensor, timesteps ts: [Int], cond: Tensor, nullCond: Tensor? = nil,
                        lowRes: Tensor? = nil, rngs: inout [RNG], progress: SamplingProgress? = nil) -> Tensor {
        let n = xStart.shape[0]
        precondition(rngs.count == n, "denoise: \(rngs.count) generators for \(n) samples")
        var x = xStart
        for (k, t) in ts.enumerated() {
            let tBatch = [Int](repeating: t, count: n)
            let out = Guidance.predict(model: model, x: x, lowRes: lowRes, t: tBatch, cond: cond,
                                       nullCond: nullCond, weight: settings.guidance)
            precondition(out.shape == x.shape, "denoise: model output \(out.shape), expected \(x.shape)")
            var (x0, eps) = schedule.x0AndEpsilon(from: out, xt: x, t: tBatch, prediction: prediction)
            if settings.clipDenoised {
                x0.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = min(max(p[i], -1), 1) } }
                eps = schedule.epsilon(fromX0: x0, xt: x, t: tBatch)
            }
            let tPrev = k + 1 < ts.count ? ts[k + 1] : -1
            switch settings.kind {
            case .ddpm: x = ancestralStep(x: x, x0: x0, t: t, tPrev: tPrev, rngs: &rngs)
            case .ddim: x = ddimStep(x0: x0, eps: eps, t: t, tPrev: tPrev, rngs: &rngs)
            }
            progress?(k + 1, ts.count)
        }
        return x
    }

    /// x_{t−1} ~ N(μ̃(x_t, x̂₀), β̃_t) (no noise at the last step). Requires tPrev = t − 1.
    func ancestralStep(x: Tensor, x0: Tensor, t: Int, tPrev: Int, rngs: inout [RNG]) -> Tensor {
        precondition(tPrev == t - 1, "ancestral DDPM steps one timestep at a time (\(t) → \(tPrev))")
        let n = x.shape[0]
        var mean = schedule.posteriorMean(x0: x0, xt: x, t: [Int](repeating: t, count: n))
        if t == 0 { return mean }
        let sigma = Float(schedule.posteriorVariance[t].squareRoot())
        addScaledNoise(&mean, sigma: sigma, rngs: &rngs)
        return mean
    }

    /// DDIM update: x_{t'} = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'} − σ²)·ε̂ + σ·z, σ = η·√((1−ᾱ_{t'})/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t'});
    /// t' = −1 (past the last step) has ᾱ = 1 and returns x̂₀.
    func ddimStep(x0: Tensor, eps: Tensor, t: Int, tPrev: Int, rngs: inout [RNG]) -> Tensor {
        if tPrev < 0 { return x0 }
        let ab = schedule.alphaBar[t], abPrev = schedule.alphaBar[tPrev]
        let sigma = settings.eta * ((1 - abPrev) / (1 - ab) * (1 - ab / abPrev)).squareRoot()
        let a = Float(abPrev.squareRoot()), b = Float(max(1 - abPrev - sigma * sigma, 0).squareRoot())
        var out = Tensor(zeros: x0.shape)
        out.withUnsafeMutableBufferPointer { o in x0.withUnsafeBufferPointer { xp in eps.withUnsafeBufferPointer { ep in
            for i in 0..<o.count { o[i] = a * xp[i] + b * ep[i] }
        } } }
        if sigma > 0 { addScaledNoise(&out, sigma: Float(sigma), rngs: &rngs) }
        return out
    }

    /// x += σ·z with z drawn per sample from that sample's generator.
    func addScaledNoise(_ x: inout Tensor, sigma: Float, rngs: inout [RNG]) {
        var z = Tensor(zeros: x.shape)
        Sampler.fillNoise(&z, rngs: &rngs)
        x.withUnsafeMutableBufferPointer { o in z.withUnsafeBufferPointer { zp in
            for i in 0..<o.count { o[i] = o[i] + sigma * zp[i] }
        } }
    }
}
