import Testing
@testable import Classifier
import Datasets
import Models
import Tensors

/// The soft-label and multi-label heads train through the same loop (DESIGN §7).
@Suite(.serialized) struct LabelKindTests {
    @Test func multiLabelWithUncertainEntriesLearns() {
        let d = ClassifierLearningTests.demoSplits()
        // Two conditions: "pigmented" (nevus, melanoma) and "high risk" (melanoma); every 5th entry uncertain.
        func multi(_ set: LabeledImages) -> LabeledImages {
            var v: [Float] = [], m: [Float] = []
            for i in 0..<set.count {
                let y = set.targets.hardLabel(i)
                v += [y <= 1 ? 1 : 0, y == 1 ? 1 : 0]
                m += [i % 5 == 0 ? 0 : 1, 1]
            }
            return LabeledImages(images: set.images, targets: .multi(values: v, mask: m, classes: 2), groups: set.groups)
        }
        var rng = RNG(seed: 4)
        var cfg = ResNetConfig(inChannels: 3, numOutputs: 2, resolution: 16)
        cfg.widths = [8, 16, 32, 64]
        var c = ClassifierLearningTests.config(epochs: 3)
        c.seed = 4
        let r = ClassifierTrainer.train(network: ResNet(cfg, rng: &rng), config: c, real: multi(d.train), validation: multi(d.val))
        #expect(r.bestValScore > 0.8, "val macro AUC \(r.bestValScore)")
        let out = ClassifierTrainer.predict(r.network, images: d.test.images, multiLabel: true)
        #expect(out.scores.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func softLabelsTrainAndHardLabelIsArgMax() {
        let d = ClassifierLearningTests.demoSplits()
        // 0.7 on the true class, 0.1 elsewhere.
        func soft(_ set: LabeledImages) -> LabeledImages {
            var p: [Float] = []
            for i in 0..<set.count {
                let y = set.targets.hardLabel(i)
                p += (0..<4).map { $0 == y ? 0.7 : 0.1 }
            }
            return LabeledImages(images: set.images, targets: .soft(p, classes: 4), groups: set.groups)
        }
        let train = soft(d.train)
        #expect((0..<train.count).allSatisfy { train.targets.hardLabel($0) == d.train.targets.hardLabel($0) })
        let r = ClassifierTrainer.train(network: ClassifierLearningTests.network(seed: 5),
                                        config: ClassifierLearningTests.config(epochs: 3), real: train, validation: soft(d.val))
        #expect(r.bestValScore > 0.5, "val balanced accuracy \(r.bestValScore)")
    }

    @Test func unlabeledRowsAreNotTrainedOn() {
        let t = Targets.single([0, -1, 2], classes: 3)
        #expect(t.isLabeled(0) && !t.isLabeled(1))
        let s = Targets.soft([0, 0, 0, 0.2, 0.8, 0], classes: 3)
        #expect(!s.isLabeled(0) && s.hardLabel(1) == 1)
        let m = Targets.multi(values: [1, 0, 0, 0], mask: [0, 0, 1, 0], classes: 2)
        #expect(!m.isLabeled(0) && m.isLabeled(1))
        var bank = ImageBank(channels: 1, height: 1, width: 1)
        for v: Float in [0.1, 0.5, 0.9] { bank.append(Tensor(shape: [1, 1, 1], data: [v])) }
        let set = LabeledImages(images: bank, targets: t, groups: [0, 1, 2]).labeledOnly()
        #expect(set.count == 2 && set.groups == [0, 2] && set.images.pixels == [26, 230])
    }
}
