import Testing
@testable import Classifier
import Datasets
import Models
import NN
import Tensors

/// Each baseline has the effect its name promises, seen where the trainer uses it: the loss of a training
/// step under `focal`, and the group frequencies of the examples drawn under `oversample`.
@Suite(.serialized) struct BaselineEffectTests {
    static let n = 12, classes = 3

    static func bank(seed: UInt64) -> ImageBank {
        var rng = RNG(seed: seed)
        var bank = ImageBank(channels: 3, height: 8, width: 8)
        for _ in 0..<n {
            var t = Tensor(zeros: [3, 8, 8])
            t.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: 0, high: 1) }
            bank.append(t)
        }
        return bank
    }

    static func network(outputs: Int) -> ResNet {
        var rng = RNG(seed: 9)
        return ResNet(ResNetConfig(inChannels: 3, numOutputs: outputs, resolution: 8, widths: [4, 8, 8, 8]), rng: &rng)
    }

    /// The loss the trainer reports for its first step, and the logits and targets of that step's batch
    /// recomputed with an identical network on the batch the trainer builds.
    static func firstStep(_ targets: Targets, loss: ClassifierSettings.Loss) -> (reported: Float, logits: Tensor, targets: Targets) {
        let real = LabeledImages(images: bank(seed: 3), targets: targets)
        var config = ClassifierSettings()
        config.epochs = 1; config.batch = n; config.seed = 5; config.loss = loss; config.warmupEpochs = 0
        var reported: Float = .nan
        _ = ClassifierTrainer.train(network: network(outputs: targets.classes), config: config, real: real,
                                    validation: real) { p in if p.step == 1 { reported = Float(p.loss) } }
        let labeled = real.labeledOnly()
        var plan = ClassifierTrainer.EpochPlan(config: config, real: labeled,
                                               source: ClassifierTrainer.mixedSource(config, real: labeled, synthetic: nil),
                                               epoch: 0, stepsPerEpoch: 1)
        let (x, y) = ClassifierTrainer.assemble(plan.next(step: 0), real: labeled, synthetic: nil, augment: nil,
                                                rng: RNG(seed: config.seed).split(0))
        let twin = network(outputs: targets.classes)
        twin.training = true
        return (reported, twin.forward(x), y)
    }

    static func close(_ a: Float, _ b: Float) -> Bool { abs(a - b) <= 1e-5 * max(1, abs(b)) }

    @Test func focalSingleLabelLossIsLossesFocal() {
        let step = Self.firstStep(.single((0..<Self.n).map { $0 % Self.classes }, classes: Self.classes), loss: .focal)
        guard case .single(let y, _) = step.targets else { Issue.record("targets kind"); return }
        let focal = Losses.focal(logits: step.logits, targets: y, gamma: 2).loss
        #expect(Self.close(step.reported, focal), "trainer \(step.reported) vs Losses.focal \(focal)")
        #expect(!Self.close(step.reported, Losses.crossEntropy(logits: step.logits, targets: y).loss))
    }

    @Test func focalSoftLabelLossIsTheSoftFocalForm() {
        var p: [Float] = []
        for i in 0..<Self.n { p += [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]][i % 3] }
        let step = Self.firstStep(.soft(p, classes: Self.classes), loss: .focal)
        guard case .soft(let q, let k) = step.targets else { Issue.record("targets kind"); return }
        let qt = Tensor(shape: [q.count / k, k], data: q)
        let focal = Losses.focal(logits: step.logits, probabilities: qt, gamma: 2).loss
        let ce = Losses.crossEntropy(logits: step.logits, probabilities: qt).loss
        #expect(Self.close(step.reported, focal), "trainer \(step.reported) vs soft focal \(focal)")
        #expect(!Self.close(step.reported, ce), "focal on soft labels must not be plain soft cross-entropy (\(ce))")
        // Without focal the same batch trains on soft cross-entropy.
        let plain = Self.firstStep(.soft(p, classes: Self.classes), loss: .crossEntropy)
        #expect(Self.close(plain.reported, ce))
    }

    @Test func focalMultiLabelLossIsSigmoidFocalPerHead() {
        var v: [Float] = [], m: [Float] = []
        for i in 0..<Self.n {
            v += [Float(i % 2), Float((i / 2) % 2), 1]
            m += [1, i % 4 == 0 ? 0 : 1, 1]          // some uncertain entries
        }
        let step = Self.firstStep(.multi(values: v, mask: m, classes: Self.classes), loss: .focal)
        guard case .multi(let values, let mask, let k) = step.targets else { Issue.record("targets kind"); return }
        let y = Tensor(shape: [values.count / k, k], data: values), mt = Tensor(shape: [mask.count / k, k], data: mask)
        let focal = Losses.sigmoidFocal(logits: step.logits, targets: y, mask: mt, gamma: 2, alpha: -1).loss
        let bce = Losses.bceWithLogits(logits: step.logits, targets: y, mask: mt).loss
        #expect(Self.close(step.reported, focal), "trainer \(step.reported) vs sigmoid focal \(focal)")
        #expect(!Self.close(step.reported, bce), "focal on multi-label heads must not be plain BCE (\(bce))")
    }

    /// Group frequencies of the real examples an epoch draws, from the trainer's own plan.
    static func frequencies(groups: [Int], alpha: Double, synthetic: Int, oversample: Bool)
        -> (real: [Int: Int], synthetic: Int) {
        var bank = ImageBank(channels: 1, height: 1, width: 1)
        for _ in groups { bank.append(Tensor(shape: [1, 1, 1], data: [0.5])) }
        let real = LabeledImages(images: bank, targets: .single(groups.map { _ in 0 }, classes: 2), groups: groups)
        var synthBank = ImageBank(channels: 1, height: 1, width: 1)
        for _ in 0..<synthetic { synthBank.append(Tensor(shape: [1, 1, 1], data: [0.5])) }
        let synthSet = synthetic > 0 ? LabeledImages(images: synthBank, targets: .single([Int](repeating: 1, count: synthetic), classes: 2)) : nil
        var config = ClassifierSettings()
        config.batch = 16; config.seed = 3; config.alpha = alpha; config.oversample = oversample
        let steps = 50
        var plan = ClassifierTrainer.EpochPlan(config: config, real: real,
                                               source: ClassifierTrainer.mixedSource(config, real: real, synthetic: synthSet),
                                               epoch: 0, stepsPerEpoch: steps)
        var counts: [Int: Int] = [:], synth = 0
        for s in 0..<steps {
            for pick in plan.next(step: s) {
                switch pick {
                case .real(let i): counts[groups[i], default: 0] += 1
                case .synthetic: synth += 1
                }
            }
        }
        return (counts, synth)
    }

    @Test func oversampleMakesTheGroupsTheTrainerSeesUniform() {
        // 80 / 16 / 4 rows of three groups, and 5 rows of unknown group.
        let groups = [Int](repeating: 0, count: 80) + [Int](repeating: 1, count: 16) + [Int](repeating: 2, count: 4)
            + [Int](repeating: -1, count: 5)
        let plain = Self.frequencies(groups: groups, alpha: 1, synthetic: 0, oversample: false)
        #expect(Double(plain.real[2] ?? 0) / 800 < 0.1, "without oversampling the rare group stays rare: \(plain.real)")
        let over = Self.frequencies(groups: groups, alpha: 1, synthetic: 0, oversample: true)
        #expect(over.real.keys.sorted() == [0, 1, 2], "unknown-group rows are not drawn: \(over.real)")
        for g in 0..<3 { #expect(abs((over.real[g] ?? 0) - 800 / 3) <= 1, "group \(g): \(over.real)") }
    }

    @Test func syntheticPlusOversampleBalancesOnlyTheRealShare() {
        let groups = [Int](repeating: 0, count: 90) + [Int](repeating: 1, count: 10)
        let r = Self.frequencies(groups: groups, alpha: 0.5, synthetic: 40, oversample: true)
        let real = (r.real[0] ?? 0) + (r.real[1] ?? 0)
        #expect(abs(Double(r.synthetic) / 800 - 0.5) < 0.06, "synthetic share \(r.synthetic) of 800")
        #expect(abs(Double(r.real[1] ?? 0) / Double(real) - 0.5) < 0.02, "real groups \(r.real)")
        // The same mix without oversampling keeps the 9:1 skew of the real part.
        let plain = Self.frequencies(groups: groups, alpha: 0.5, synthetic: 40, oversample: false)
        #expect(Double(plain.real[1] ?? 0) / Double((plain.real[0] ?? 0) + (plain.real[1] ?? 0)) < 0.2)
        #expect(plain.synthetic == r.synthetic, "oversampling changes which real rows are drawn, not the α mix")
    }
}
