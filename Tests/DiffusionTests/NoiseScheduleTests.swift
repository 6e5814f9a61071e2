import Foundation
import NN
import Testing
import Tensors
@testable import Diffusion

@Suite struct NoiseScheduleTests {
    @Test func linearScheduleClosedForm() {
        let s = NoiseSchedule(kind: .linear, steps: 1000)
        #expect(abs(s.betas[0] - 1e-4) < 1e-15 && abs(s.betas[999] - 0.02) < 1e-15)
        let expected500: Double = 1e-4 + (0.02 - 1e-4) * 500.0 / 999.0
        #expect(abs(s.betas[500] - expected500) < 1e-15)
        var prod = 1.0
        for t in 0..<1000 {
            prod *= 1 - s.betas[t]
            #expect(abs(s.alphaBar[t] - prod) <= 1e-15)
        }
        let a = s.sqrtAlphaBar[300], b = s.sqrtOneMinusAlphaBar[300]
        #expect(abs(a * a + b * b - 1) < 1e-12)
        // T = 100: both ends scaled by 1000/T.
        let short = NoiseSchedule(kind: .linear, steps: 100)
        #expect(abs(short.betas[0] - 1e-3) < 1e-15 && abs(short.betas[99] - 0.2) < 1e-15)
    }

    /// Unclipped, the cosine schedule's ᾱ_t telescopes to f((t+1)/T)/f(0).
    @Test func cosineScheduleClosedForm() {
        let s = NoiseSchedule(kind: .cosine, steps: 1000)
        func f(_ u: Double) -> Double { let c = cos((u + 0.008) / 1.008 * Double.pi / 2); return c * c }
        for t in [0, 1, 10, 250, 500, 900, 990] {
            #expect(abs(s.alphaBar[t] - f(Double(t + 1) / 1000) / f(0)) < 1e-12, "t = \(t)")
        }
        #expect(s.betas[999] == 0.999)            // f(1) = 0: clipped
        #expect(s.betas.allSatisfy { $0 > 0 && $0 <= 0.999 })
        #expect(zip(s.alphaBar, s.alphaBar.dropFirst()).allSatisfy { $0 > $1 })
    }

    /// Against improved-diffusion's numpy computation (Tests/Fixtures/torch/make_diffusion_fixtures.py).
    @Test(arguments: [("cosine", ScheduleKind.cosine, 1000), ("linear", .linear, 1000), ("linear100", .linear, 100)])
    func matchesNumpyReference(_ c: (String, ScheduleKind, Int)) throws {
        let f = try SafeTensors.read(path: fixtureDirectory + "/diffusion_schedule.safetensors")
        let s = NoiseSchedule(kind: c.1, steps: c.2)
        let pairs: [(String, [Double])] = [("betas", s.betas), ("alpha_bar", s.alphaBar), ("posterior_variance", s.posteriorVariance),
                                           ("posterior_mean_coef1", s.posteriorMeanCoefX0), ("posterior_mean_coef2", s.posteriorMeanCoefXt)]
        for (key, ours) in pairs {
            let ref = try #require(f.tensors["\(c.0).\(key)"])
            #expect(ref.count == ours.count)
            let worst = worstError(ours.indices.map { i in
                let r = Double(ref.data[i])
                return abs(ours[i] - r) / max(abs(r), 1e-30)
            })
            #expect(worst < 1e-6, "\(c.0).\(key): worst relative error \(worst)")   // fixture stored as F64, read as F32
        }
    }

    /// q(x_t | x₀) = N(√ᾱ x₀, 1 − ᾱ): sample statistics of 200 000 draws.
    @Test func forwardProcessStatistics() {
        let s = NoiseSchedule(kind: .cosine, steps: 1000)
        let n = 50_000, t = 400
        let x0 = Tensor(repeating: 0.7, shape: [4, 1, 1, n])
        var rng = RNG(seed: 5)
        var eps = Tensor(zeros: x0.shape)
        eps.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let xt = s.addNoise(x0, noise: eps, t: [t, t, t, t])
        let (m, sd) = moments(xt)
        #expect(abs(m - 0.7 * s.sqrtAlphaBar[t]) < 0.005)
        #expect(abs(sd - s.sqrtOneMinusAlphaBar[t]) < 0.005)
        // Per-sample timesteps: sample 0 at t = 0 is nearly x₀, sample 3 at T−1 is nearly pure noise.
        let mixed = s.addNoise(x0, noise: eps, t: [0, 10, 500, 999])
        let last = Tensor(shape: [n], data: Array(mixed.data[(3 * n)...]))
        #expect(abs(mixed.data[0] - 0.7) < 0.05)
        #expect(abs(moments(last).std - 1) < 0.02)
    }

    @Test(arguments: Prediction.allCases)
    func parameterisationsRoundTrip(_ p: Prediction) {
        let s = NoiseSchedule(kind: .linear, steps: 200)
        var rng = RNG(seed: 11)
        var x0 = Tensor(zeros: [3, 2, 2, 2]), eps = Tensor(zeros: [3, 2, 2, 2])
        x0.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        eps.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let t = [3, 100, 190]
        let xt = s.addNoise(x0, noise: eps, t: t)
        let target = s.target(p, x0: x0, noise: eps, t: t)
        let (x0r, epsr) = s.x0AndEpsilon(from: target, xt: xt, t: t, prediction: p)
        for i in 0..<x0.count {
            #expect(abs(x0r.data[i] - x0.data[i]) < 2e-4)   // ε-prediction at t = 190 divides by √ᾱ ≈ 0.1
            #expect(abs(epsr.data[i] - eps.data[i]) < 1e-4)
        }
        let epsFromX0 = s.epsilon(fromX0: x0, xt: xt, t: t)
        for i in 0..<eps.count { #expect(abs(epsFromX0.data[i] - eps.data[i]) < 1e-3) }
        // v = √ᾱ ε − √(1−ᾱ) x₀ elementwise.
        let v = s.velocity(x0: x0, noise: eps, t: t)
        let k = 2 * 8 + 5
        let vk: Double = s.sqrtAlphaBar[190] * Double(eps.data[k]) - s.sqrtOneMinusAlphaBar[190] * Double(x0.data[k])
        #expect(abs(Double(v.data[k]) - vk) < 1e-6)
    }

    /// The posterior q(x_{t−1}|x_t, x₀) is the Gaussian conditional of the joint of (x_{t−1}, x_t) given x₀.
    @Test func posteriorMatchesGaussianConditioning() {
        let s = NoiseSchedule(kind: .cosine, steps: 50)
        for t in [1, 7, 30, 49] {
            let abPrev = s.alphaBar[t - 1], alpha = 1 - s.betas[t]
            // x_{t−1} = √ᾱ' x₀ + √(1−ᾱ') z, x_t = √α x_{t−1} + √β w. Var(x_{t−1}) = 1−ᾱ', Cov = √α (1−ᾱ'), Var(x_t) = 1−ᾱ.
            let gain = alpha.squareRoot() * (1 - abPrev) / (1 - s.alphaBar[t])
            let condVar = (1 - abPrev) - gain * alpha.squareRoot() * (1 - abPrev)
            #expect(abs(s.posteriorVariance[t] - condVar) < 1e-12)
            #expect(abs(s.posteriorMeanCoefXt[t] - gain) < 1e-12)
            #expect(abs(s.posteriorMeanCoefX0[t] - (abPrev.squareRoot() - gain * s.sqrtAlphaBar[t])) < 1e-12)
        }
        #expect(s.posteriorVariance[0] == 0)
        #expect(s.timestep(strength: 1) == 49 && s.timestep(strength: 0) == 0 && s.timestep(strength: 0.5) == 25)
    }
}
