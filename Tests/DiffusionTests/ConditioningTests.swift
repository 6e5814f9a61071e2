import Testing
import Tensors
@testable import Diffusion

@Suite struct ConditioningTests {
    let layout = try! ConditioningLayout(cond: ["label", "skin_tone"], classes: ["eczema", "psoriasis", "melanoma"],
                                         attributeValues: ["skin_tone": ["dark", "light"], "sex": ["f", "m"]])

    @Test func blocksAndVectors() throws {
        #expect(layout.width == 5)
        #expect(layout.block("skin_tone")?.columns == 3..<5)
        #expect(layout.summary == "label[0..<3]: eczema, psoriasis, melanoma; skin_tone[3..<5]: dark, light")
        // one-hot label ⊕ one-hot attribute
        #expect(layout.encode(label: ConditioningLayout.oneHot(2, count: 3), attributes: ["skin_tone": 0]) == [0, 0, 1, 1, 0])
        // soft / multi-hot labels are copied as given
        #expect(layout.encode(label: [0.5, 0.167, 0.333], attributes: ["skin_tone": 1]) == [0.5, 0.167, 0.333, 0, 1])
        // unlabeled → zero label block; unknown attribute → zero attribute block; attributes not conditioned on are ignored
        #expect(layout.encode(label: nil, attributes: ["skin_tone": 1, "sex": 0]) == [0, 0, 0, 0, 1])
        #expect(layout.encode(label: [0, 1, 0], attributes: [:]) == [0, 1, 0, 0, 0])
        #expect(try layout.encode(label: [1, 0, 0], attributeNames: ["skin_tone": "light"]) == [1, 0, 0, 0, 1])
        #expect(throws: ConditioningError.self) { try layout.encode(label: nil, attributeNames: ["skin_tone": "purple"]) }
    }

    @Test func sameLabelDifferentAttribute() {
        let v = layout.encode(label: [0, 1, 0], attributes: ["skin_tone": 1])
        let w = layout.replacing("skin_tone", with: 0, in: v)
        #expect(w == [0, 1, 0, 1, 0])
        #expect(layout.attributeValue("skin_tone", in: v) == 1 && layout.attributeValue("skin_tone", in: w) == 0)
        #expect(layout.attributeValue("skin_tone", in: [1, 0, 0, 0, 0]) == nil)
        #expect(layout.batch([v, w]).shape == [2, 5])
    }

    @Test func layoutErrorsNameTheField() {
        #expect(throws: ConditioningError(field: "pipeline.ddpm.cond", reason: "unknown entry 'age', expected one of: label, sex")) {
            try ConditioningLayout(cond: ["label", "age"], classes: ["a"], attributeValues: ["sex": ["f", "m"]])
        }
        #expect(throws: ConditioningError.self) { try ConditioningLayout(cond: ["label", "label"], classes: ["a"], attributeValues: [:]) }
        let attrOnly = try? ConditioningLayout(cond: ["hospital"], classes: ["a", "b"], attributeValues: ["hospital": ["h1", "h2", "h3"]])
        #expect(attrOnly?.width == 3)
    }

    /// Whole rows are zeroed with probability p, seeded; other rows are untouched; `columns` limits the drop.
    @Test func conditionDropout() {
        let n = 20_000
        var c = Tensor(repeating: 1, shape: [n, 4])
        var rng = RNG(seed: 3)
        let dropped = ConditionDropout.apply(&c, probability: 0.1, rng: &rng)
        let frac = Double(dropped.filter { $0 }.count) / Double(n)
        #expect(abs(frac - 0.1) < 0.01)
        for i in 0..<n {
            let row = Array(c.data[(i * 4)..<(i * 4 + 4)])
            #expect(row == (dropped[i] ? [0, 0, 0, 0] : [1, 1, 1, 1]))
        }
        var c2 = Tensor(repeating: 1, shape: [n, 4]), rng2 = RNG(seed: 3)
        #expect(ConditionDropout.apply(&c2, probability: 0.1, rng: &rng2) == dropped)
        var c3 = Tensor(repeating: 1, shape: [2, 4]), rng3 = RNG(seed: 1)
        ConditionDropout.apply(&c3, probability: 1, columns: 0..<2, rng: &rng3)
        #expect(c3.data == [0, 0, 1, 1, 0, 0, 1, 1])
    }

    /// The training set applies the same dropout to its batches, at the configured rate.
    @Test func trainingSetDropsAndFlips() {
        var img = Tensor(zeros: [1, 1, 1, 3]); img.data = [1, 2, 3]
        let set = ImageTrainingSet(images: img, cond: Tensor(repeating: 1, shape: [1, 2]), horizontalFlip: true, condDrop: 0.25)
        var rng = RNG(seed: 8)
        let b = set.batch(indices: [Int](repeating: 0, count: 4000), rng: &rng)
        var flips = 0, drops = 0
        for i in 0..<4000 {
            if b.x0.data[i * 3] == 3 { flips += 1 } else { #expect(b.x0.data[i * 3] == 1) }
            if b.cond.data[i * 2] == 0 { drops += 1 }
        }
        #expect(abs(Double(flips) / 4000 - 0.5) < 0.03 && abs(Double(drops) / 4000 - 0.25) < 0.03)
        let noFlip = ImageTrainingSet(images: img, cond: Tensor(repeating: 1, shape: [1, 2]), horizontalFlip: false, condDrop: 0)
        var r2 = RNG(seed: 8)
        #expect(noFlip.batch(indices: [0, 0], rng: &r2).x0.data == [1, 2, 3, 1, 2, 3])
    }
}
