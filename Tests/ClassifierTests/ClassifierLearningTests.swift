import Testing
@testable import Classifier
import Datasets
import Fairness
import Models
import Tensors

/// End-to-end: a small ResNet learns the demo toy, the baselines run, and the per-group table agrees with a
/// straightforward recomputation.
@Suite(.serialized) struct ClassifierLearningTests {
    static func demoSplits(size: Int = 16) -> (train: LabeledImages, val: LabeledImages, test: LabeledImages, testTones: [Int]) {
        var spec = DemoData.Spec()
        spec.size = size
        spec.train = 480; spec.val = 120; spec.testID = 240; spec.testOOD = 0; spec.unlabeled = 0
        let ex = DemoData.generate(spec)
        func set(_ split: String) -> (LabeledImages, [Int]) {
            let rows = ex.filter { $0.split == split }
            var bank = ImageBank(channels: 3, height: size, width: size)
            for r in rows { bank.append(r.image) }
            let tones = rows.map(\.toneGroup)
            return (LabeledImages(images: bank, targets: .single(rows.map(\.label), classes: 4), groups: tones), tones)
        }
        let (train, _) = set("train"), (val, _) = set("val"), (test, tones) = set("test_id")
        return (train, val, test, tones)
    }

    static func network(seed: UInt64) -> ResNet {
        var rng = RNG(seed: seed)
        var cfg = ResNetConfig(inChannels: 3, numOutputs: 4, resolution: 16)
        cfg.widths = [8, 16, 32, 64]
        return ResNet(cfg, rng: &rng)
    }

    static func config(epochs: Int = 4) -> ClassifierSettings {
        var c = ClassifierSettings()
        c.epochs = epochs; c.batch = 32; c.learningRate = 0.05; c.seed = 1
        return c
    }

    @Test func baselineLearnsTheToyAndOversampleRuns() throws {
        let d = Self.demoSplits()
        let base = ClassifierTrainer.train(network: Self.network(seed: 1), config: Self.config(),
                                           real: d.train, validation: d.val)
        // Loss goes down and the held-out accuracy is far above chance (0.25).
        #expect(base.history.last!.meanLoss < base.history.first!.meanLoss)
        let out = ClassifierTrainer.predict(base.network, images: d.test.images, multiLabel: false)
        let labels = (0..<d.test.count).map { d.test.targets.hardLabel($0) }
        let acc = accuracy(labels: labels, scores: out.scoreMatrix) ?? 0
        #expect(acc > 0.6, "test accuracy \(acc)")

        var over = Self.config()
        over.oversample = true
        let os = ClassifierTrainer.train(network: Self.network(seed: 1), config: over, real: d.train, validation: d.val)
        #expect(os.history.count == over.epochs)

        // Per-group table: Fairness's numbers equal a direct count, and the minority (dark) group is reported.
        let toneNames = d.testTones.map { DemoData.toneGroups[$0] }
        let table = groupTable(attribute: "skin_tone", groups: toneNames, labels: labels, scores: out.scoreMatrix,
                               highRisk: [1])
        let pred = predictions(out.scoreMatrix)
        for g in 0..<3 {
            let rows = labels.indices.filter { d.testTones[$0] == g }
            let direct = Double(rows.filter { pred[$0] == labels[$0] }.count) / Double(rows.count)
            let reported = table[DemoData.toneGroups[g]]?.accuracy ?? -1
            #expect(abs(direct - reported) < 1e-12)
        }
    }

    @Test func sameSeedSameWeights() throws {
        let d = Self.demoSplits()
        var cfg = Self.config(epochs: 1)
        cfg.augment = [.dermatology]
        let a = ClassifierTrainer.train(network: Self.network(seed: 3), config: cfg, real: d.train, validation: d.val)
        let b = ClassifierTrainer.train(network: Self.network(seed: 3), config: cfg, real: d.train, validation: d.val)
        let sa = a.network.stateTensors(), sb = b.network.stateTensors()
        #expect(sa.count == sb.count)
        #expect(zip(sa, sb).allSatisfy { $0.name == $1.name && $0.tensor == $1.tensor })
    }

    @Test func alphaZeroTrainsOnSyntheticOnly() throws {
        let d = Self.demoSplits()
        // "Synthetic" = the training set with labels permuted: if α = 0 really ignores the real set,
        // the network cannot beat chance on the real test labels by much.
        let shuffled: [Int] = (0..<d.train.count).map { (d.train.targets.hardLabel($0) + 1) % 4 }
        let synth = LabeledImages(images: d.train.images, targets: .single(shuffled, classes: 4), groups: d.train.groups)
        var cfg = Self.config(epochs: 3)
        cfg.alpha = 0
        let r = ClassifierTrainer.train(network: Self.network(seed: 2), config: cfg, real: d.train, synthetic: synth,
                                        validation: d.val)
        let out = ClassifierTrainer.predict(r.network, images: d.test.images, multiLabel: false)
        let labels = (0..<d.test.count).map { d.test.targets.hardLabel($0) }
        let shifted = labels.map { ($0 + 1) % 4 }
        // It learned the shifted labelling, not the real one.
        #expect((accuracy(labels: shifted, scores: out.scoreMatrix) ?? 0) > (accuracy(labels: labels, scores: out.scoreMatrix) ?? 1))
    }
}
