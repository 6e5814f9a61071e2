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
}
