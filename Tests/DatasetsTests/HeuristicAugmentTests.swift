import Testing
@testable import Datasets
import Tensors

@Suite struct HeuristicAugmentTests {
    static let image: Tensor = {
        var rng = RNG(seed: 11)
        var t = Tensor(zeros: [3, 16, 16])
        t.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: 0.1, high: 0.9) }
        return t
    }()

    @Test(arguments: HeuristicAugment.Policy.allCases)
    func keepsShapeRangeAndIsSeeded(_ policy: HeuristicAugment.Policy) {
        let aug = HeuristicAugment(policy: policy)
        var r1 = RNG(seed: 1), r2 = RNG(seed: 1), r3 = RNG(seed: 2)
        let a = aug.apply(Self.image, rng: &r1), b = aug.apply(Self.image, rng: &r2)
        var c = aug.apply(Self.image, rng: &r3)
        for _ in 0..<3 where c == a { c = aug.apply(Self.image, rng: &r3) }
        #expect(a.shape == Self.image.shape)
        #expect(a.data.allSatisfy { $0 >= -1e-6 && $0 <= 1 + 1e-6 })
        #expect(a == b)
        #expect(a != Self.image)
        #expect(c != a)
    }

    @Test func blurKernelCoversThreeSigmaWithinTheImage() {
        #expect(HeuristicAugment.blurKernelSize(sigma: 0.001, limit: 32) == 3)
        #expect(HeuristicAugment.blurKernelSize(sigma: 1, limit: 32) == 7)
        #expect(HeuristicAugment.blurKernelSize(sigma: 7, limit: 32) == 31)
        #expect(HeuristicAugment.blurKernelSize(sigma: 3, limit: 64) == 19)
    }

    @Test func modalityPicksThePapersPolicy() {
        #expect(HeuristicAugment.forModality("radiology").policy == .radiology)
        #expect(HeuristicAugment.forModality("histopathology").policy == .histopathology)
        #expect(HeuristicAugment.forModality("dermatology").policy == .dermatology)
    }

    // MARK: - what each policy changes

    /// `pipeline.classifier.augment` reaches RandAugment and the ImageNet lists for every modality.
    @Test func augmentSettingsResolvePerModality() {
        for m in Modality.allCases {
            #expect(HeuristicAugment.policies(.randaugment, modality: m) == [.randaugment])
            let list = HeuristicAugment.imagenetPolicy(for: m)
            #expect(HeuristicAugment.policies(.imagenet, modality: m) == [list])
            #expect(HeuristicAugment.policies(.randaugmentImagenet, modality: m) == [list, .randaugment])
        }
        #expect(HeuristicAugment.imagenetPolicy(for: .histopathology) == .histopathology)
        #expect(HeuristicAugment.imagenetPolicy(for: .radiology) == .radiology)
        #expect(HeuristicAugment.imagenetPolicy(for: .dermatology) == .dermatology)
        #expect(HeuristicAugment.imagenetPolicy(for: .generic) == .imagenet)
        #expect(AugmentSetting.default(for: .histopathology) == .imagenet)
        #expect(AugmentSetting.default(for: .radiology) == .randaugmentImagenet)
        #expect(AugmentSetting.default(for: .dermatology) == .randaugment)
        #expect(AugmentSetting.default(for: .generic) == .randaugment)
    }

    static func uniform(_ v: Float, channels: Int = 3, size: Int = 16) -> Tensor {
        Tensor(shape: [channels, size, size], data: [Float](repeating: v, count: channels * size * size))
    }

    /// ImageNet-style: random resized crop (area 8–100 %, aspect 3/4–4/3), horizontal flip half the time,
    /// brightness/contrast/saturation jitter.
    @Test func imagenetPolicyCropsFlipsAndJitters() {
        let aug = HeuristicAugment(policy: .imagenet)
        // Crop boxes: inside the image, area and aspect in range, and not always the whole image.
        var rng = RNG(seed: 5)
        var areas: [Float] = []
        for _ in 0..<200 {
            let b = HeuristicAugment.resizedCropBox(height: 32, width: 32, rng: &rng)
            #expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= 32.001 && b.left + b.width <= 32.001)
            #expect(b.width / b.height >= 0.749 && b.width / b.height <= 1.334)
            areas.append(b.width * b.height / 1024)
        }
        #expect(areas.allSatisfy { $0 >= 0.079 && $0 <= 1.001 })
        #expect(areas.min()! < 0.3 && areas.max()! > 0.8, "areas span the range")

        // A gray image stays uniform (crop and flip move nothing visible); only the brightness changes it.
        var values: Set<Float> = []
        for seed in 0..<40 {
            var r = RNG(seed: UInt64(seed))
            let out = aug.apply(Self.uniform(0.5), rng: &r)
            #expect(out.data.allSatisfy { abs($0 - out.data[0]) < 1e-5 })
            #expect(out.data[0] >= 0.5 * 0.6 - 1e-5 && out.data[0] <= 0.5 * 1.4 + 1e-5)
            values.insert(out.data[0])
        }
        #expect(values.count > 30, "brightness jitter varies with the seed")

        // A left→right ramp keeps its direction unless flipped: about half the draws are flipped.
        var ramp = Tensor(zeros: [3, 16, 16])
        for c in 0..<3 { for y in 0..<16 { for x in 0..<16 { ramp.data[(c * 16 + y) * 16 + x] = 0.2 + 0.6 * Float(x) / 15 } } }
        var flipped = 0
        for seed in 0..<200 {
            var r = RNG(seed: UInt64(seed))
            let out = aug.apply(ramp, rng: &r)
            if out.data[0] > out.data[15] { flipped += 1 }
        }
        #expect(flipped > 70 && flipped < 130, "flipped \(flipped) of 200")
    }

    /// RandAugment draws exactly N ops, each applied at magnitude M.
    @Test func randAugmentAppliesNOpsAtMagnitudeM() {
        for n in 0...4 {
            var aug = HeuristicAugment(policy: .randaugment)
            aug.randAugmentOps = n
            var r1 = RNG(seed: 7), r2 = RNG(seed: 7)
            let steps = aug.randAugmentSteps(&r1)
            #expect(steps.count == n)
            #expect(steps == aug.randAugmentSteps(&r2), "deterministic given the seed")
            // apply = the drawn ops in order.
            var r3 = RNG(seed: 7), r4 = RNG(seed: 7)
            let drawn = aug.randAugmentSteps(&r3)
            let expected = drawn.reduce(Self.image) { HeuristicAugment.randAugmentOp($1, $0, magnitude: aug.randAugmentMagnitude) }
            #expect(aug.apply(Self.image, rng: &r4) == expected)
            if n == 0 {
                var r5 = RNG(seed: 7)
                #expect(aug.apply(Self.image, rng: &r5) == Self.image, "no op, no change")
            }
        }
        // Magnitude: brightness scales by 1 + 0.9·M/10, rotation turns by 30°·M/10.
        let brighter = HeuristicAugment.RandAugmentStep(op: 7, sign: 1, vertical: false)
        for (m, factor) in [(0, Float(1)), (5, 1.45), (9, 1.81)] {
            let out = HeuristicAugment.randAugmentOp(brighter, Self.uniform(0.5), magnitude: m)
            #expect(abs(out.data[0] - 0.5 * factor) < 1e-5, "M=\(m): \(out.data[0])")
        }
        let rotate = HeuristicAugment.RandAugmentStep(op: 2, sign: -1, vertical: false)
        #expect(HeuristicAugment.randAugmentOp(rotate, Self.image, magnitude: 9)
            == Geometry.warp(Self.image, .rotation(degrees: -27, height: 16, width: 16), edge: .zero))
        #expect(HeuristicAugment.randAugmentOpNames.count == 11)
    }

    /// A stack applies its policies in order on one RNG stream (RandAugment+ImageNet).
    @Test func stackedPoliciesComposeInOrder() {
        let stack = HeuristicAugment(policies: [.radiology, .randaugment])
        var r1 = RNG(seed: 3), r2 = RNG(seed: 3)
        let once = HeuristicAugment(policy: .radiology).apply(Self.image, rng: &r2)
        let twice = HeuristicAugment(policy: .randaugment).apply(once, rng: &r2)
        #expect(stack.apply(Self.image, rng: &r1) == twice)
        #expect(twice != once)
    }
}
