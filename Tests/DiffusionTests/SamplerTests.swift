import Testing
import Tensors
@testable import Diffusion

@Suite struct SamplerTests {
    static let mu: Float = 0.3, sd: Float = 0.5

    /// DDIM with η = 0 on the exact ε of N(μ, s²) data integrates the probability-flow ODE: samples drawn from
    /// noise have the data mean and standard deviation (8 000 values).
    @Test(arguments: Prediction.allCases)
    func ddimRecoversGaussianData(_ p: Prediction) {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let model = GaussianDenoiser(schedule: sched, prediction: p, nullMean: Self.mu, std: Self.sd)
        let sampler = Sampler(schedule: sched, prediction: p,
                              settings: SamplerSettings(kind: .ddim, steps: 100, eta: 0, clipDenoised: false))
        let x = sampler.sample(model: model, shape: [2000, 1, 2, 2], cond: Tensor(zeros: [2000, 0]), seed: 1)
        let (m, s) = moments(x)
        #expect(abs(m - Double(Self.mu)) < 0.02, "mean \(m)")
        #expect(abs(s - Double(Self.sd)) < 0.02, "std \(s)")
        #expect(model.calls.count == 100)
    }

    /// A broken model (ε scaled by 0.5) must fail the same check — the test can fail.
    @Test func ddimCheckDetectsAWrongModel() {
        final class Scaled: Denoiser {
            let inner: GaussianDenoiser
            init(_ m: GaussianDenoiser) { inner = m }
            var condDim: Int { 0 }
            var outChannels: Int { 1 }
            func predict(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor {
                var y = inner.predict(x, t: t, cond: cond); for i in 0..<y.count { y.data[i] *= 0.5 }; return y
            }
        }
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let sampler = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 50, clipDenoised: false))
        let x = sampler.sample(model: Scaled(GaussianDenoiser(schedule: sched, nullMean: Self.mu, std: Self.sd)),
                               shape: [500, 1, 2, 2], cond: Tensor(zeros: [500, 0]), seed: 1)
        #expect(abs(moments(x).std - Double(Self.sd)) > 0.1)
    }

    /// Ancestral DDPM through all T steps on the exact ε also recovers the data distribution.
    @Test func ancestralRecoversGaussianData() {
        let sched = NoiseSchedule(kind: .linear, steps: 300)
        let model = GaussianDenoiser(schedule: sched, nullMean: Self.mu, std: Self.sd)
        let sampler = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddpm, clipDenoised: false))
        let x = sampler.sample(model: model, shape: [2000, 1, 2, 2], cond: Tensor(zeros: [2000, 0]), seed: 2)
        let (m, s) = moments(x)
        #expect(abs(m - Double(Self.mu)) < 0.02, "mean \(m)")
        #expect(abs(s - Double(Self.sd)) < 0.02, "std \(s)")
        #expect(model.calls.count == 300)
    }

    /// DDIM with η = 1 is stochastic but still samples the data distribution.
    @Test func stochasticDDIMRecoversGaussianData() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let model = GaussianDenoiser(schedule: sched, nullMean: Self.mu, std: Self.sd)
        let sampler = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 100, eta: 1, clipDenoised: false))
        let x = sampler.sample(model: model, shape: [2000, 1, 2, 2], cond: Tensor(zeros: [2000, 0]), seed: 3)
        let (m, s) = moments(x)
        #expect(abs(m - Double(Self.mu)) < 0.02 && abs(s - Double(Self.sd)) < 0.025, "mean \(m) std \(s)")
    }

    @Test func timestepGrids() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let ddim = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 50))
        let ts = ddim.timesteps()
        #expect(ts.count == 50 && ts.first == 980 && ts.last == 0 && ts[0] - ts[1] == 20)
        #expect(ddim.timesteps(from: 333).prefix(3) == [333, 320, 300])
        #expect(ddim.timesteps(from: 340).prefix(2) == [340, 320])
        let ddpm = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddpm))
        #expect(ddpm.timesteps().count == 1000 && ddpm.timesteps(from: 4) == [4, 3, 2, 1, 0])
    }

    /// Same seed → same samples; a sample does not depend on the batch it is drawn in (per-sample generators).
    @Test(arguments: [SamplerKind.ddim, .ddpm])
    func deterministicAndBatchIndependent(_ kind: SamplerKind) {
        let sched = NoiseSchedule(kind: .cosine, steps: 60)
        let model = GaussianDenoiser(schedule: sched, nullMean: 0.1, std: 0.4)
        let sampler = Sampler(schedule: sched, settings: SamplerSettings(kind: kind, steps: 10, eta: 0.5))
        let a = sampler.sample(model: model, shape: [5, 1, 3, 3], cond: Tensor(zeros: [5, 0]), seed: 9)
        let b = sampler.sample(model: model, shape: [5, 1, 3, 3], cond: Tensor(zeros: [5, 0]), seed: 9)
        #expect(a == b)
        let part = sampler.sample(model: model, shape: [2, 1, 3, 3], cond: Tensor(zeros: [2, 0]), seed: 9, firstIndex: 3)
        #expect(part == Batch.slice(a, 3..<5))
        let other = sampler.sample(model: model, shape: [5, 1, 3, 3], cond: Tensor(zeros: [5, 0]), seed: 10)
        #expect(other != a)
        var steps: [Int] = []
        _ = sampler.sample(model: model, shape: [1, 1, 3, 3], cond: Tensor(zeros: [1, 0]), seed: 9) { k, total in steps.append(k * 1000 + total) }
        let total = kind == .ddim ? 10 : 60
        #expect(steps == (1...total).map { $0 * 1000 + total })
    }

    @Test func clippingKeepsSamplesInRange() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let model = GaussianDenoiser(schedule: sched, nullMean: 0.8, std: 0.6)
        let sampler = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 20, clipDenoised: true))
        let x = sampler.sample(model: model, shape: [200, 1, 2, 2], cond: Tensor(zeros: [200, 0]), seed: 4)
        #expect(x.data.allSatisfy { $0 >= -1 && $0 <= 1 })
    }
}

@Suite struct GuidanceTests {
    @Test func combineFormula() {
        let c = Tensor(shape: [1, 3], data: [1, 2, 3]), u = Tensor(shape: [1, 3], data: [0.5, -1, 3])
        #expect(Guidance.combine(conditional: c, unconditional: u, weight: 1) == c)
        #expect(Guidance.combine(conditional: c, unconditional: u, weight: 0) == u)
        #expect(Guidance.combine(conditional: c, unconditional: u, weight: 3).data == [2, 8, 3])   // u + 3(c − u)
    }

    /// w = 3 makes one forward over the doubled batch [x; x] with [c; ∅] and equals ε(∅) + w(ε(c) − ε(∅));
    /// w = 1 and w = 0 make one single-batch call each.
    @Test func predictUsesOneDoubledForward() {
        let sched = NoiseSchedule(kind: .cosine, steps: 100)
        let model = GaussianDenoiser(schedule: sched, means: [0.9, -0.4], nullMean: 0, std: 0.3)
        var rng = RNG(seed: 1)
        var x = Tensor(zeros: [3, 1, 2, 2])
        x.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let cond = Tensor(shape: [3, 2], data: [1, 0, 0, 1, 1, 0])
        let t = [10, 50, 90]
        let ec = model.predict(x, t: t, cond: cond), eu = model.predict(x, t: t, cond: Tensor(zeros: [3, 2]))
        model.calls = []
        let g = Guidance.predict(model: model, x: x, t: t, cond: cond, weight: 3)
        #expect(model.calls == [6])
        for i in 0..<g.count { #expect(abs(g.data[i] - (eu.data[i] + 3 * (ec.data[i] - eu.data[i]))) < 1e-6) }
        model.calls = []
        #expect(Guidance.predict(model: model, x: x, t: t, cond: cond, weight: 1) == ec)
        #expect(Guidance.predict(model: model, x: x, t: t, cond: cond, weight: 0) == eu)
        #expect(model.calls == [3, 3])
        // A low-res image is concatenated along channels of both halves.
        let low = Tensor(repeating: 0.25, shape: [3, 1, 2, 2])
        _ = Guidance.predict(model: model, x: x, lowRes: low, t: t, cond: cond, weight: 2)
        #expect(model.lastInput?.shape == [6, 2, 2, 2])
        #expect(model.lastInput.map { $0[4, 1, 1, 1] } == 0.25)
    }

    /// Guided sampling with w > 1 pushes samples past the conditional mean, away from the unconditional one.
    @Test func guidanceStrengthensTheCondition() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let model = GaussianDenoiser(schedule: sched, means: [0.5], nullMean: 0, std: 0.2)
        func meanAt(_ w: Float) -> Double {
            let s = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 25, guidance: w, clipDenoised: false))
            return moments(s.sample(model: model, shape: [300, 1, 1, 1], cond: Tensor(repeating: 1, shape: [300, 1]), seed: 5)).mean
        }
        let m0 = meanAt(0), m1 = meanAt(1), m3 = meanAt(3)
        #expect(abs(m0) < 0.05 && abs(m1 - 0.5) < 0.05 && m3 > m1 + 0.2, "w=0: \(m0), w=1: \(m1), w=3: \(m3)")
    }
}
