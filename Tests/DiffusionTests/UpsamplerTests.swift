import Testing
import Tensors
@testable import Diffusion

@Suite struct UpsamplerTests {
    static func image(seed: UInt64) -> Tensor {
        var rng = RNG(seed: seed)
        var x = Tensor(zeros: [3, 16, 16])
        x.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        return x
    }

    /// The spec written out step by step with ImageOps and the documented draw order.
    static func reference(_ img: Tensor, _ s: UpsamplerAugmentSettings, base: Int, rng: inout RNG) -> (Tensor, aa: Bool, noise: Bool) {
        let aa = rng.uniform() < 0.5, noisy = rng.uniform() < 0.2
        var x = Tensor(shape: img.shape, data: img.data.map { ($0 + 1) / 2 })
        x = ImageOps.resizeBilinear(x, height: base, width: base, antialias: aa)
        x = ImageOps.resizeBilinear(x, height: 16, width: 16, antialias: aa)
        if noisy {
            var z = Tensor(zeros: x.shape)
            z.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
            for i in 0..<x.count { x.data[i] += 4 / 255 * z.data[i] }
        }
        x = ImageOps.gaussianBlur(x, kernelSize: 7, sigma: s.blurSigma)
        x = ImageOps.quantize(x)
        return (Tensor(shape: x.shape, data: x.data.map { $0 * 2 - 1 }), aa, noisy)
    }

    /// On 300 fixed seeds the preprocessing equals the spec exactly, every branch combination occurs, and the
    /// branch frequencies are the paper's (anti-alias 0.5, noise 0.2).
    @Test func preprocessingMatchesSpecOnFixedSeeds() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        var settings = UpsamplerAugmentSettings()
        settings.blurSigma = 0.6     // a visible blur so a skipped step would show
        let cond = UpsamplerConditioner(settings: settings, schedule: sched, baseSize: (4, 4))
        let img = Self.image(seed: 1)
        var aaCount = 0, noiseCount = 0
        var combos = Set<String>()
        for seed in 0..<300 {
            var r1 = RNG(seed: UInt64(seed)), r2 = RNG(seed: UInt64(seed))
            let ours = cond.degrade(img, rng: &r1)
            let (ref, aa, noisy) = Self.reference(img, settings, base: 4, rng: &r2)
            #expect(ours == ref, "seed \(seed)")
            #expect(r1 == r2)   // same random numbers consumed
            aaCount += aa ? 1 : 0; noiseCount += noisy ? 1 : 0
            combos.insert("\(aa)\(noisy)")
        }
        #expect(combos.count == 4)
        #expect(abs(Double(aaCount) / 300 - 0.5) < 0.08 && abs(Double(noiseCount) / 300 - 0.2) < 0.06)
    }

    /// Output properties that hold whatever the seed: 256-level grid in [−1, 1]; the low-res detail is gone.
    @Test func degradedImageIsQuantisedAndLowPass() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let cond = UpsamplerConditioner(schedule: sched, baseSize: (4, 4))
        var rng = RNG(seed: 2)
        let img = Self.image(seed: 3)
        let z = cond.degrade(img, rng: &rng)
        #expect(z.shape == [3, 16, 16])
        for v in z.data {
            let level = (v + 1) / 2 * 255
            #expect(v >= -1 && v <= 1 && abs(level - level.rounded()) < 1e-3)
        }
        // White noise input: a 4× down/up round trip removes most of the variance.
        #expect(moments(z).std < 0.5 * moments(img).std)
        // Sampling-time upsampling of a base image: bilinear + quantised, shape of the final resolution.
        let up = cond.upsample(Tensor(repeating: 0.5, shape: [2, 3, 4, 4]), to: (16, 16))
        #expect(up.shape == [2, 3, 16, 16] && up.data.allSatisfy { abs($0 - (Float(191) / 255 * 2 - 1)) < 1e-6 })
    }

    @Test func noiseLevelConditioning() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let cond = UpsamplerConditioner(schedule: sched, baseSize: (4, 4))
        #expect(cond.samplingLevel == 50)
        var rng = RNG(seed: 4)
        let levels = (0..<2000).map { _ in cond.drawTrainingLevel(rng: &rng) }
        #expect(levels.min() == 0 && levels.max() == 300)
        #expect(abs(Double(levels.reduce(0, +)) / 2000 - 150) < 10)
        // z_s statistics: √ᾱ_s z + √(1−ᾱ_s) ε on a constant image.
        let z = Tensor(repeating: 0.5, shape: [3, 64, 64])
        let noised = cond.noised(z, level: 300, rng: &rng)
        let (m, s) = moments(noised)
        #expect(abs(m - 0.5 * sched.sqrtAlphaBar[300]) < 0.01 && abs(s - sched.sqrtOneMinusAlphaBar[300]) < 0.01)
        // features: 8 values, level 0 → sin 0 / cos 1; appended after the droppable columns.
        #expect(cond.levelFeatures(0) == [0, 1, 0, 1, 0, 1, 0, 1])
        #expect(cond.levelFeatures(300) != cond.levelFeatures(301))
        let c = cond.appendLevels(Tensor(shape: [2, 2], data: [1, 0, 0, 1]), levels: [0, 999])
        #expect(c.shape == [2, 10] && Array(c.data[0..<2]) == [1, 0] && Array(c.data[10..<12]) == [0, 1])
    }

    /// The upsampler's training set: 6-channel model input pieces, cond ⊕ level features, dropout only on cond.
    @Test func upsamplerTrainingBatch() {
        let sched = NoiseSchedule(kind: .cosine, steps: 1000)
        let conditioner = UpsamplerConditioner(schedule: sched, baseSize: (4, 4))
        var images = Tensor(zeros: [2, 3, 16, 16])
        images.data = Self.image(seed: 5).data + Self.image(seed: 6).data
        let set = UpsamplerTrainingSet(images: images, cond: Tensor(repeating: 1, shape: [2, 3]), conditioner: conditioner,
                                       horizontalFlip: false, condDrop: 1)
        var rng = RNG(seed: 1)
        let b = set.batch(indices: [1, 0, 1], rng: &rng)
        #expect(b.x0.shape == [3, 3, 16, 16] && b.lowRes?.shape == [3, 3, 16, 16] && b.cond.shape == [3, 11])
        #expect(Array(b.cond.data[0..<3]) == [0, 0, 0])                        // dropped
        #expect(b.cond.data[3...10].contains { $0 != 0 })                      // level features kept
        #expect(Array(b.x0.data[0..<768]) == Array(images.data[768...]))
    }
}
