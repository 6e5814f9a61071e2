import Testing
@testable import Diffusion
import Tensors

@Suite struct ResampledTrainingSetTests {
    @Test func balancedMappingMakesEveryGroupAsFrequentAsTheLargest() {
        // Group 7 has 5 examples, group 2 has 2, unknown (−1) has 1.
        let groups = [7, 2, 7, -1, 7, 7, 2, 7]
        let m = ResampledTrainingSet.balancedMapping(groups: groups)
        #expect(m.count == 15)
        var counts: [Int: Int] = [:]
        for i in m { counts[groups[i], default: 0] += 1 }
        #expect(counts == [7: 5, 2: 5, -1: 5])
        // Each group's members repeat cyclically, in order: group 2 = rows 1, 6, 1, 6, 1.
        #expect(m.filter { groups[$0] == 2 } == [1, 6, 1, 6, 1])
        #expect(m.filter { groups[$0] == 7 } == [0, 2, 4, 5, 7])
        #expect(ResampledTrainingSet.balancedMapping(groups: []) == [])
    }

    @Test func batchesComeFromTheMappedExamples() {
        // Four 1×1×1 images whose pixel is their index; the mapping shows only examples 3 and 1.
        let images = Tensor(shape: [4, 1, 1, 1], data: [0, 1, 2, 3])
        let base = ImageTrainingSet(images: images, cond: Tensor(repeating: 1, shape: [4, 1]), horizontalFlip: false, condDrop: 0)
        let set = ResampledTrainingSet(base: base, mapping: [3, 1, 3])
        #expect(set.count == 3)
        var rng = RNG(seed: 1)
        let b = set.batch(indices: [0, 1, 2, 1], rng: &rng)
        #expect(b.x0.data == [3, 1, 3, 1])
    }
}
