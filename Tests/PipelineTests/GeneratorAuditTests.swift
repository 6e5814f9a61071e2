@testable import Classifier
import Fairness
import Foundation
import Testing
import Tensors
@testable import Pipeline

/// A fixed rule as the auditor: class 1 ("bright") when the mean pixel is above 127.5; its features are
/// the mean and the spread of the pixels. Its answers are known for every image, so the audit's are too.
private func brightnessAuditor(_ bank: ImageBank) -> ClassifierOutputs {
    var scores: [Float] = [], features: [Float] = []
    let d = bank.imageSize
    for i in 0..<bank.count {
        let px = bank.pixels[(i * d)..<((i + 1) * d)].map { Float($0) / 255 }
        let mean = px.reduce(0, +) / Float(d)
        let spread = px.map { abs($0 - mean) }.reduce(0, +) / Float(d)
        scores += [1 - mean, mean]
        features += [mean, spread]
    }
    return ClassifierOutputs(scores: scores, classes: 2, features: features, featureDim: 2)
}

/// `count` 4×4 gray images of class `c` with pixels drawn in the class's range; `values` alternate 0, 1.
/// Every `wrongEvery`-th image is drawn from the other class's range (the auditor gets it wrong).
private func images(_ c: Int, count: Int, seed: UInt64, wrongEvery: Int = 0) -> GeneratorAudit.LabeledSet {
    var rng = RNG(seed: seed)
    var bank = ImageBank(channels: 1, height: 4, width: 4)
    for i in 0..<count {
        let bright = (c == 1) != (wrongEvery > 0 && i % wrongEvery == wrongEvery - 1)
        var t = Tensor(zeros: [1, 4, 4])
        for k in 0..<16 { t.data[k] = (bright ? 0.62 : 0.02) + 0.36 * rng.uniform() }
        bank.append(t)
    }
    return GeneratorAudit.LabeledSet(images: bank, classes: Array(repeating: c, count: count),
                                     values: (0..<count).map { $0 % 2 })
}

private func merge(_ a: GeneratorAudit.LabeledSet, _ b: GeneratorAudit.LabeledSet) -> GeneratorAudit.LabeledSet {
    var bank = a.images
    for i in 0..<b.images.count { bank.append(b.images.image(i)) }
    return GeneratorAudit.LabeledSet(images: bank, classes: a.classes + b.classes, values: a.values + b.values)
}

private func relabel(_ s: GeneratorAudit.LabeledSet, as c: Int) -> GeneratorAudit.LabeledSet {
    GeneratorAudit.LabeledSet(images: s.images, classes: s.classes.map { _ in c }, values: s.values)
}

private func audit(train: GeneratorAudit.LabeledSet, val: GeneratorAudit.LabeledSet, synthetic: GeneratorAudit.LabeledSet) -> JSONValue {
    GeneratorAudit.run(auditor: brightnessAuditor, classNames: ["dark", "bright"], attribute: "tone",
                       valueNames: ["a", "b"], train: train, validation: val, synthetic: synthetic,
                       mmdSampleSize: 50, mmdRepeats: 5)
}

private func cell(_ j: JSONValue, _ cls: String, _ value: String) -> JSONValue? {
    guard case .array(let cells)? = j["cells"] else { return nil }
    return cells.first { $0["class"] == .string(cls) && $0["value"] == .string(value) }
}

@Test func auditOfRealImagesScoresLikeTheRealData() throws {
    let train = merge(images(0, count: 24, seed: 1), images(1, count: 24, seed: 2))
    // Validation with mistakes in some cells: every 3rd dark image is bright, every 4th bright one dark.
    let val = merge(images(0, count: 12, seed: 3, wrongEvery: 3), images(1, count: 12, seed: 4, wrongEvery: 4))
    // A "generator" that returns the real validation images of the requested cell.
    let j = audit(train: train, val: val, synthetic: val)
    for cls in ["dark", "bright"] {
        for v in ["a", "b"] {
            let c = try #require(cell(j, cls, v))
            #expect(c["fidelity"]?.doubleValue == c["auditor_val_accuracy"]?.doubleValue, "\(cls)/\(v)")
            #expect(c["synthetic"]?.doubleValue == 6)
        }
    }
    // The mistakes are where they were put: dark images 2, 5, 8, 11 (two per value), bright 3, 7, 11 (all "b").
    #expect(cell(j, "dark", "a")?["fidelity"]?.doubleValue == 4.0 / 6)
    #expect(cell(j, "dark", "b")?["fidelity"]?.doubleValue == 4.0 / 6)
    #expect(cell(j, "bright", "a")?["fidelity"]?.doubleValue == 1)
    #expect(cell(j, "bright", "b")?["fidelity"]?.doubleValue == 3.0 / 6)
    #expect(j["overall"]?["fidelity"]?.doubleValue == 17.0 / 24)
    // Fresh images are not copies of the training set.
    #expect(j["overall"]?["memorised"]?.doubleValue == 0)
}

@Test func auditOfTheWrongClassScoresNearZeroAndCopiesCountAsMemorised() throws {
    let dark = images(0, count: 24, seed: 1), bright = images(1, count: 24, seed: 2)
    let train = merge(dark, bright)
    let val = merge(images(0, count: 12, seed: 3), images(1, count: 12, seed: 4))
    // Asked for "dark", the generator returns bright images (and the reverse).
    let wrong = audit(train: train, val: val,
                      synthetic: merge(relabel(images(1, count: 12, seed: 5), as: 0), relabel(images(0, count: 12, seed: 6), as: 1)))
    #expect(wrong["overall"]?["fidelity"]?.doubleValue == 0)
    #expect(cell(wrong, "dark", "a")?["auditor_val_accuracy"]?.doubleValue == 1)
    // A generator that copies its training images: every sample is memorised.
    let copies = audit(train: train, val: val, synthetic: train)
    #expect(copies["overall"]?["memorised"]?.doubleValue == 1)
    #expect(copies["overall"]?["fidelity"]?.doubleValue == 1)
    // In feature space the wrong class is far from the real cell; copies are not.
    let far = try #require(cell(wrong, "dark", "a")?["mmd"]?.doubleValue)
    let near = try #require(cell(copies, "dark", "a")?["mmd"]?.doubleValue)
    #expect(far > 10 * abs(near))
    // Per attribute value, over both classes.
    guard case .array(let groups)? = copies["groups"] else { Issue.record("no groups"); return }
    #expect(groups.map { $0["value"] } == [.string("a"), .string("b")])
    #expect(groups.allSatisfy { $0["synthetic"]?.doubleValue == 24 })
}
