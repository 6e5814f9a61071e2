import Testing
import Tensors
@testable import Diffusion

@Suite struct Img2ImgTests {
    static let sched = NoiseSchedule(kind: .cosine, steps: 1000)
    static func images(_ n: Int, value: Float) -> Tensor { Tensor(repeating: value, shape: [n, 1, 4, 4]) }

    @Test(arguments: [SamplerKind.ddim, .ddpm])
    func strengthZeroReturnsTheInputAndTinyStrengthStaysClose(_ kind: SamplerKind) {
        let model = GaussianDenoiser(schedule: Self.sched, means: [0.6, -0.6], nullMean: 0, std: 0.2)
        let sampler = Sampler(schedule: Self.sched, settings: SamplerSettings(kind: kind, steps: 50))
        var rng = RNG(seed: 1)
        var x = Tensor(zeros: [4, 1, 4, 4])
        x.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let target = Tensor(shape: [4, 2], data: [0, 1, 0, 1, 0, 1, 0, 1])
        #expect(Img2Img.translate(model: model, sampler: sampler, images: x, strength: 0, cond: target, seed: 3) == x)
        model.calls = []
        let y = Img2Img.translate(model: model, sampler: sampler, images: x, strength: 1e-4, cond: target, seed: 3)
        #expect(model.calls == [4])   // t₀ = 0: a single denoising step
        let worst = worstError(zip(x.data, y.data).map { abs($0 - $1) })
        #expect(worst < 0.02, "worst \(worst)")
    }

    /// Strength moves the result from the source (low s) to the target condition's distribution (s = 1).
    @Test func strengthTradesSourceForTarget() {
        // Target N(−0.3, 0.5²); the probability-flow map sends the source mean 0.3 to ≈ 0.27 from s = 0.1,
        // ≈ −0.04 from s = 0.5 and to the target mean from s = 1.
        let model = GaussianDenoiser(schedule: Self.sched, means: [0.3, -0.3], nullMean: 0, std: 0.5)
        let sampler = Sampler(schedule: Self.sched, settings: SamplerSettings(kind: .ddim, steps: 50, clipDenoised: false))
        let source = Self.images(200, value: 0.3)                  // "majority" images (condition 0)
        let target = Tensor(shape: [200, 2], data: (0..<200).flatMap { _ in [Float(0), 1] })   // same label, other attribute
        func mean(_ s: Double) -> Double {
            moments(Img2Img.translate(model: model, sampler: sampler, images: source, strength: s, cond: target, seed: 7)).mean
        }
        let low = mean(0.1), mid = mean(0.5), full = mean(1)
        #expect(abs(low - 0.27) < 0.03, "s=0.1 → \(low)")
        #expect(abs(mid + 0.04) < 0.05, "s=0.5 → \(mid)")
        #expect(abs(full + 0.3) < 0.05, "s=1 → \(full)")
        // deterministic in the seed
        let a = Img2Img.translate(model: model, sampler: sampler, images: Batch.slice(source, 0..<3), strength: 0.5, cond: Batch.slice(target, 0..<3), seed: 7)
        let b = Img2Img.translate(model: model, sampler: sampler, images: Batch.slice(source, 0..<3), strength: 0.5, cond: Batch.slice(target, 0..<3), seed: 7)
        #expect(a == b)
    }
}

@Suite struct CascadeTests {
    /// Base (4×4) → upsampler (8×8): the upsampler sees noisy image ⊕ noised upsampled base sample and
    /// cond ⊕ level features, with guidance's null vector keeping the level features.
    @Test func cascadeWiresTheStages() {
        let sched = NoiseSchedule(kind: .cosine, steps: 200)
        let base = GaussianDenoiser(schedule: sched, means: [0.5], nullMean: 0, std: 0.1)
        let up = GaussianDenoiser(schedule: sched, means: [0.5], nullMean: 0.5, std: 0.1)   // guidance-neutral
        let conditioner = UpsamplerConditioner(schedule: sched, baseSize: (4, 4))
        let s1 = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 10))
        let s2 = Sampler(schedule: sched, settings: SamplerSettings(kind: .ddim, steps: 5, guidance: 2))
        let cascade = Cascade(base: base, baseSampler: s1, upsampler: up, upsamplerSampler: s2, conditioner: conditioner, finalSize: (8, 8))
        var ticks: [Int] = []
        let (low, final) = cascade.sample(cond: Tensor(repeating: 1, shape: [3, 1]), channels: 1, seed: 4) { k, total in
            #expect(total == 15); ticks.append(k)
        }
        #expect(ticks == Array(1...15))
        #expect(low.shape == [3, 1, 4, 4] && final.shape == [3, 1, 8, 8])
        #expect(abs(moments(low).mean - 0.5) < 0.1 && abs(moments(final).mean - 0.5) < 0.1)
        #expect(up.calls == [6, 6, 6, 6, 6])
        let input = up.lastInput!, cond = up.lastCond!
        #expect(input.shape == [6, 2, 8, 8] && cond.shape == [6, 9])
        // the low-res channel ≈ the upsampled base sample (noise level 0.05·T is small)
        let expected = conditioner.upsample(low, to: (8, 8))
        var diff = 0.0
        for i in 0..<3 { for j in 0..<64 { diff += Double(abs(input.data[i * 128 + 64 + j] - expected.data[i * 64 + j])) } }
        #expect(diff / 192 < 0.1)
        let features = conditioner.levelFeatures(conditioner.samplingLevel)
        #expect(Array(cond.data[1..<9]) == features && cond.data[0] == 1)
        #expect(Array(cond.data[(5 * 9 + 1)..<(6 * 9)]) == features && cond.data[5 * 9] == 0)
    }
}

@Suite struct QualityTests {
    @Test func gemmDistancesMatchNaive() {
        var rng = RNG(seed: 1)
        let a = (0..<(5 * 7)).map { _ in rng.normal() }, b = (0..<(4 * 7)).map { _ in rng.normal() }
        let d2 = Quality.squaredDistances(a, rows: 5, b, rows: 4, dim: 7)
        for i in 0..<5 { for j in 0..<4 {
            var s: Float = 0
            for k in 0..<7 { let d = a[i * 7 + k] - b[j * 7 + k]; s += d * d }
            #expect(abs(d2[i * 4 + j] - s) < 1e-4)
        } }
    }

    /// Copies of training images have distance 0 to their class; novel samples do not; classes are separate.
    @Test func memorisationReport() {
        var rng = RNG(seed: 2)
        var train = Tensor(zeros: [6, 1, 3, 3])
        train.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let classes = [0, 0, 0, 1, 1, 1]
        var samples = Batch.gather(train, [0, 4])            // copies: class 0 and class 1
        var novel = Tensor(zeros: [1, 1, 3, 3])
        novel.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        samples = Batch.stack(samples, novel)
        let r = Quality.memorisation(samples: samples, sampleClasses: [0, 1, 1], training: train, trainingClasses: classes)
        #expect(r[0]?.samples == 1 && r[0]!.meanNearestDistance < 1e-3)
        #expect(r[1]?.samples == 2 && r[1]!.minNearestDistance < 1e-3 && r[1]!.meanNearestDistance > 0.3)
        #expect(r[1]!.trainingBaseline! > 0.5)
        // a class-0 copy labelled class 1 is not at distance 0 from class 1's images
        let wrong = Quality.memorisation(samples: Batch.gather(train, [0]), sampleClasses: [1], training: train, trainingClasses: classes)
        #expect(wrong[1]!.meanNearestDistance > 0.3)
    }
}
