import Foundation
import Tensors

// Forward-process noise schedules of DDPM (Ho et al. 2020) and improved DDPM (Nichol & Dhariwal 2021).
//
// Index convention: timestep t ∈ 0..<T is the network's input; x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε with
// ᾱ_t = ∏_{s≤t} (1 − β_s). All coefficients are computed in Double and applied in Float32.

/// Which β sequence a `NoiseSchedule` uses.
public enum ScheduleKind: String, Sendable, Codable, CaseIterable {
    /// β linear from 1e-4 to 0.02 at T = 1000 (both ends scaled by 1000/T for other T, as improved DDPM does,
    /// so that ᾱ at the last step stays ≈ 4e-5 whatever T).
    case linear
    /// ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T) + s)/(1 + s)·π/2), s = 0.008; β_t = min(1 − ᾱ_{t}/ᾱ_{t−1}, 0.999).
    case cosine
}

/// What the network is trained to predict.
public enum Prediction: String, Sendable, Codable, CaseIterable {
    /// The noise ε (DDPM's default).
    case epsilon
    /// v = √ᾱ·ε − √(1−ᾱ)·x₀ (Salimans & Ho 2022).
    case v
}

/// A diffusion noise schedule with every coefficient the losses and samplers need.
public struct NoiseSchedule: Sendable, Equatable {
    public let kind: ScheduleKind
    /// Number of diffusion steps T.
    public let steps: Int
    /// β_t, t = 0..<T.
    public let betas: [Double]
    /// ᾱ_t = ∏_{s≤t}(1 − β_s).
    public let alphaBar: [Double]
    /// ᾱ_{t−1} (1 at t = 0).
    public let alphaBarPrev: [Double]
    /// √ᾱ_t.
    public let sqrtAlphaBar: [Double]
    /// √(1 − ᾱ_t).
    public let sqrtOneMinusAlphaBar: [Double]
    /// Variance of q(x_{t−1} | x_t, x₀): β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) (0 at t = 0).
    public let posteriorVariance: [Double]
    /// Coefficient of x₀ in the posterior mean: β_t √ᾱ_{t−1} / (1 − ᾱ_t).
    public let posteriorMeanCoefX0: [Double]
    /// Coefficient of x_t in the posterior mean: (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t).
    public let posteriorMeanCoefXt: [Double]

    /// Offset s of the cosine schedule.
    public static let cosineOffset = 0.008
    /// Upper clip of β in the cosine schedule.
    public static let maxBeta = 0.999

    /// Builds the schedule of `kind` over `steps` (T ≥ 2) diffusion steps.
    public init(kind: ScheduleKind = .cosine, steps: Int = 1000) {
        precondition(steps >= 2, "NoiseSchedule: need at least 2 steps, got \(steps)")
        self.kind = kind
        self.steps = steps
        self.betas = NoiseSchedule.betas(kind: kind, steps: steps)
        var ab = [Double](repeating: 0, count: steps)
        var prod = 1.0
        for t in 0..<steps { prod *= 1 - betas[t]; ab[t] = prod }
        alphaBar = ab
        alphaBarPrev = [1.0] + ab.dropLast()
        sqrtAlphaBar = ab.map { $0.squareRoot() }
        sqrtOneMinusAlphaBar = ab.map { (1 - $0).squareRoot() }
        var pv = [Double](repeating: 0, count: steps)
        var c0 = [Double](repeating: 0, count: steps)
        var ct = [Double](repeating: 0, count: steps)
        for t in 0..<steps {
            let abPrev = t == 0 ? 1.0 : ab[t - 1]
            pv[t] = betas[t] * (1 - abPrev) / (1 - ab[t])
            c0[t] = betas[t] * abPrev.squareRoot() / (1 - ab[t])
            ct[t] = (1 - abPrev) * (1 - betas[t]).squareRoot() / (1 - ab[t])
        }
        posteriorVariance = pv
        posteriorMeanCoefX0 = c0
        posteriorMeanCoefXt = ct
    }

    /// The β sequence of `kind` for `steps` steps.
    public static func betas(kind: ScheduleKind, steps: Int) -> [Double] {
        switch kind {
        case .linear:
            let scale = 1000.0 / Double(steps)
            let lo = scale * 1e-4, hi = scale * 0.02
            return (0..<steps).map { lo + (hi - lo) * Double($0) / Double(steps - 1) }
        case .cosine:
            func f(_ u: Double) -> Double {
                let c = cos((u + cosineOffset) / (1 + cosineOffset) * Double.pi / 2)
                return c * c
            }
            return (0..<steps).map { i in
                min(1 - f(Double(i + 1) / Double(steps)) / f(Double(i) / Double(steps)), maxBeta)
            }
        }
    }

    // MARK: - Forward process and parameterisations (element-wise over [N, …] batches, per-sample t)

    /// Elements per sample of a batch tensor.
    static func perSample(_ x: Tensor, _ t: [Int]) -> Int {
        precondition(x.rank >= 1 && x.shape[0] == t.count, "NoiseSchedule: batch \(x.shape) vs \(t.count) timesteps")
        return x.count / max(t.count, 1)
    }

    /// out[i] = a(t_i)·x[i] + b(t_i)·y[i] for per-sample coefficient tables a, b.
    func combine(_ x: Tensor, _ y: Tensor, t: [Int], _ a: [Double], _ b: [Double]) -> Tensor {
        precondition(x.shape == y.shape, "NoiseSchedule: shapes \(x.shape) and \(y.shape) differ")
        let m = NoiseSchedule.perSample(x, t)
        var out = Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { yp in out.withUnsafeMutableBufferPointer { op in
            for (i, ti) in t.enumerated() {
                precondition(ti >= 0 && ti < steps, "NoiseSchedule: timestep \(ti) outside 0..<\(steps)")
                let ca = Float(a[ti]), cb = Float(b[ti])
                let base = i * m
                for j in base..<(base + m) { op[j] = ca * xp[j] + cb * yp[j] }
            }
        } } }
        return out
    }

    /// Samples q(x_t | x₀): √ᾱ_t·x₀ + √(1−ᾱ_t)·ε.
    public func addNoise(_ x0: Tensor, noise: Tensor, t: [Int]) -> Tensor {
        combine(x0, noise, t: t, sqrtAlphaBar, sqrtOneMinusAlphaBar)
    }

    /// The v target √ᾱ_t·ε − √(1−ᾱ_t)·x₀.
    public func velocity(x0: Tensor, noise: Tensor, t: [Int]) -> Tensor {
        combine(noise, x0, t: t, sqrtAlphaBar, sqrtOneMinusAlphaBar.map { -$0 })
    }

    /// The training target for `prediction` (ε itself, or v).
    public func target(_ prediction: Prediction, x0: Tensor, noise: Tensor, t: [Int]) -> Tensor {
        prediction == .epsilon ? noise : velocity(x0: x0, noise: noise, t: t)
    }

    /// Converts a model output to (x̂₀, ε̂) at x_t.
    /// ε-prediction: x̂₀ = (x_t − √(1−ᾱ)·ε̂)/√ᾱ. v-prediction: x̂₀ = √ᾱ·x_t − √(1−ᾱ)·v, ε̂ = √(1−ᾱ)·x_t + √ᾱ·v.
    public func x0AndEpsilon(from output: Tensor, xt: Tensor, t: [Int], prediction: Prediction) -> (x0: Tensor, eps: Tensor) {
        switch prediction {
        case .epsilon:
            let sa = sqrtAlphaBar, sb = sqrtOneMinusAlphaBar
            let x0 = combine(xt, output, t: t, sa.map { 1 / $0 }, zip(sa, sb).map { -$1 / $0 })
            return (x0, output)
        case .v:
            let x0 = combine(xt, output, t: t, sqrtAlphaBar, sqrtOneMinusAlphaBar.map { -$0 })
            let eps = combine(xt, output, t: t, sqrtOneMinusAlphaBar, sqrtAlphaBar)
            return (x0, eps)
        }
    }

    /// ε̂ recomputed from x_t and a (possibly clipped) x̂₀: (x_t − √ᾱ·x̂₀)/√(1−ᾱ).
    public func epsilon(fromX0 x0: Tensor, xt: Tensor, t: [Int]) -> Tensor {
        let inv = sqrtOneMinusAlphaBar.map { 1 / $0 }
        return combine(xt, x0, t: t, inv, zip(sqrtAlphaBar, inv).map { -$0 * $1 })
    }

    /// Mean of q(x_{t−1} | x_t, x̂₀).
    public func posteriorMean(x0: Tensor, xt: Tensor, t: [Int]) -> Tensor {
        combine(x0, xt, t: t, posteriorMeanCoefX0, posteriorMeanCoefXt)
    }

    /// The timestep an img2img strength s ∈ [0, 1] starts from: round(s·(T − 1)).
    public func timestep(strength s: Double) -> Int {
        precondition(s >= 0 && s <= 1, "strength must be in [0, 1], got \(s)")
        return Int((s * Double(steps - 1)).rounded())
    }
}
