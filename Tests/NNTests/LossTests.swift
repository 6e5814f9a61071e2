import Foundation
import Testing
@testable import NN
import Tensors

/// Losses: PyTorch parity on train_losses.safetensors, finite-difference gradient checks, stability.
@Suite struct LossTests {
    let fixture: SafeTensorsFile
    init() throws { fixture = try trainFixture("train_losses.safetensors") }

    func t(_ name: String) -> Tensor { fixture.tensors[name]! }
    func targets(_ name: String) -> [Int] { t(name).data.map { Int($0) } }

    /// Compares (loss, grad) to the fixture's "<key>.loss" / "<key>.grad".
    func expectParity(_ result: (loss: Float, grad: Tensor), _ key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        trainExpectClose(Tensor(shape: [1], data: [result.loss]), t(key + ".loss"), key + ".loss", sourceLocation: sourceLocation)
        trainExpectClose(result.grad, t(key + ".grad"), key + ".grad", sourceLocation: sourceLocation)
        #expect(result.grad.shape == t(key + ".grad").shape, sourceLocation: sourceLocation)
    }

    @Test func mseMatchesTorch() {
        expectParity(Losses.mse(t("mse.pred"), t("mse.target")), "mse")
        let (loss, grad) = Losses.mse(Tensor(shape: [2, 2], data: [1, 2, 3, 4]), Tensor(shape: [2, 2], data: [0, 2, 5, 4.5]))
        #expect(abs(loss - (1 + 0 + 4 + 0.25) / 4) < 1e-7)
        #expect(grad.data == [0.5, 0, -1, -0.25])
    }

    @Test func crossEntropyMatchesTorch() {
        // The fixture includes rows with logits ±80 and ≈ −100 (naive exp over/underflows in Float32).
        expectParity(Losses.crossEntropy(logits: t("ce.logits"), targets: targets("ce.targets")), "ce")
        expectParity(Losses.crossEntropy(logits: t("ce.logits"), probabilities: t("soft.probs")), "soft")
    }

    @Test func softTargetsWithOneHotRowsEqualHardTargets() {
        let z = t("ce.logits"), y = targets("ce.targets")
        var q = Tensor(zeros: z.shape)
        for i in 0..<y.count { q[i, y[i]] = 1 }
        let hard = Losses.crossEntropy(logits: z, targets: y)
        let soft = Losses.crossEntropy(logits: z, probabilities: q)
        #expect(abs(hard.loss - soft.loss) <= 1e-6 * abs(hard.loss))
        trainExpectClose(soft.grad, hard.grad, abs: 1e-7, rel: 1e-6, "soft vs hard grad")
    }

    @Test func focalMatchesTorchAndReducesToCrossEntropy() {
        for (key, gamma) in [("focal2", Float(2)), ("focal0.5", 0.5)] {
            expectParity(Losses.focal(logits: t(key + ".logits"), targets: targets(key + ".targets"), gamma: gamma), key)
        }
        // Where pₜ rounds to 1 the γ < 1 gradient has the finite limit 0 (PyTorch's autograd gives NaN).
        let saturated = Losses.focal(logits: t("ce.logits"), targets: targets("ce.targets"), gamma: 0.5)
        #expect(saturated.loss.isFinite && saturated.grad.data.allSatisfy(\.isFinite))
        let ce = Losses.crossEntropy(logits: t("ce.logits"), targets: targets("ce.targets"))
        let f0 = Losses.focal(logits: t("ce.logits"), targets: targets("ce.targets"), gamma: 0)
        #expect(abs(ce.loss - f0.loss) <= 1e-6 * ce.loss)
        trainExpectClose(f0.grad, ce.grad, abs: 1e-7, rel: 1e-6, "focal γ=0 vs CE")
    }

    /// The soft-label focal loss is the hard one on one-hot rows and soft cross-entropy at γ = 0; on soft
    /// rows it differs from both (it down-weights the classes that are already fitted).
    @Test func softFocalReducesToHardFocalAndSoftCrossEntropy() {
        let z = t("focal2.logits"), y = targets("focal2.targets")
        let (n, c) = (z.shape[0], z.shape[1])
        var onehot = Tensor(zeros: [n, c])
        for i in 0..<n { onehot.data[i * c + y[i]] = 1 }
        let hard = Losses.focal(logits: z, targets: y, gamma: 2)
        let soft = Losses.focal(logits: z, probabilities: onehot, gamma: 2)
        #expect(abs(hard.loss - soft.loss) <= 1e-6 * max(1, abs(hard.loss)))
        trainExpectClose(soft.grad, hard.grad, abs: 1e-7, rel: 1e-5, "soft focal on one-hot rows vs hard focal")
        var q = Tensor(zeros: [n, c])
        for i in 0..<n { for j in 0..<c { q.data[i * c + j] = Float(1 + (i + j) % 3) / Float(c * 2) } }
        for i in 0..<n {
            let s = (0..<c).reduce(Float(0)) { $0 + q.data[i * c + $1] }
            for j in 0..<c { q.data[i * c + j] /= s }
        }
        let ce = Losses.crossEntropy(logits: z, probabilities: q)
        let f0 = Losses.focal(logits: z, probabilities: q, gamma: 0)
        #expect(abs(f0.loss - ce.loss) <= 1e-6 * max(1, abs(ce.loss)))
        trainExpectClose(f0.grad, ce.grad, abs: 1e-7, rel: 1e-5, "soft focal γ=0 vs soft CE")
        let f2 = Losses.focal(logits: z, probabilities: q, gamma: 2)
        #expect(f2.loss < ce.loss * 0.99, "focal weights (1 − p)^γ < 1 must lower the loss: \(f2.loss) vs \(ce.loss)")
    }

    @Test func maskedBCEMatchesTorchAndIgnoresMaskedEntries() {
        let z = t("bce.logits"), y = t("bce.targets"), m = t("bce.mask")
        let r = Losses.bceWithLogits(logits: z, targets: y, mask: m)
        expectParity(r, "bce")
        expectParity(Losses.bceWithLogits(logits: z, targets: y), "bce_nomask")
        // Masked entries: zero gradient, and their targets/logits do not move the loss.
        var y2 = y, z2 = z
        for i in 0..<m.count where m.data[i] == 0 {
            #expect(r.grad.data[i] == 0)
            y2.data[i] = 1 - y2.data[i]
            z2.data[i] += 5
        }
        #expect(Losses.bceWithLogits(logits: z2, targets: y2, mask: m).loss == r.loss)
        // Everything masked: zero loss and gradient rather than 0/0.
        let none = Losses.bceWithLogits(logits: z, targets: y, mask: Tensor(zeros: z.shape))
        #expect(none.loss == 0 && none.grad.data.allSatisfy { $0 == 0 })
    }

    @Test func sigmoidFocalMatchesTorchvisionFormula() {
        let z = t("bce.logits"), y = t("bce.targets"), m = t("bce.mask")
        expectParity(Losses.sigmoidFocal(logits: z, targets: y, mask: m, gamma: 2, alpha: 0.25), "sfocal_g2_a0.25")
        expectParity(Losses.sigmoidFocal(logits: z, targets: y, mask: m, gamma: 1.5, alpha: -1), "sfocal_g1.5_a-1")
        // γ = 0 without α weighting is the masked BCE.
        let bce = Losses.bceWithLogits(logits: z, targets: y, mask: m)
        let f0 = Losses.sigmoidFocal(logits: z, targets: y, mask: m, gamma: 0, alpha: -1)
        #expect(abs(bce.loss - f0.loss) <= 1e-6 * bce.loss)
        trainExpectClose(f0.grad, bce.grad, abs: 1e-7, rel: 1e-6, "sigmoid focal γ=0 vs BCE")
    }

    @Test func extremeLogitsStayFinite() {
        let z = Tensor(shape: [2, 3], data: [1e4, -1e4, 0, -3e4, -3e4 + 1, -3e4 - 2])
        for r in [Losses.crossEntropy(logits: z, targets: [1, 2]),
                  Losses.crossEntropy(logits: z, probabilities: Tensor(repeating: 1.0 / 3, shape: [2, 3])),
                  Losses.focal(logits: z, targets: [1, 0]),
                  Losses.bceWithLogits(logits: z, targets: Tensor(repeating: 0.5, shape: [2, 3])),
                  Losses.sigmoidFocal(logits: z, targets: Tensor(repeating: 1, shape: [2, 3]), gamma: 0.5)] {
            #expect(r.loss.isFinite && r.grad.data.allSatisfy(\.isFinite), "\(r)")
        }
        // Row 0 target 1 is 2e4 below the max: loss ≈ 2e4/2 for that row; row 1 target 2 is 3 below.
        let ce = Losses.crossEntropy(logits: z, targets: [1, 2])
        let lse1 = log(exp(-1.0) + 1 + exp(-3.0))
        #expect(abs(Double(ce.loss) - (2e4 + (lse1 + 3)) / 2) < 1e-2)
    }

    /// Finite-difference checks of every loss at moderate random logits (where Float32 rounding of the
    /// loss is far below the central-difference signal).
    @Test func gradientsMatchFiniteDifferences() {
        let z = GradCheck.direction([6, 5], seed: 21)
        let y = [0, 4, 2, 2, 1, 3]
        var q = GradCheck.direction([6, 5], seed: 22)
        for i in 0..<6 { // rows → distributions
            var s: Float = 0
            for j in 0..<5 { q[i, j] = exp(q[i, j]); s += q[i, j] }
            for j in 0..<5 { q[i, j] /= s }
        }
        let target = GradCheck.direction([6, 5], seed: 23)
        var bits = GradCheck.direction([6, 5], seed: 24)
        var mask = GradCheck.direction([6, 5], seed: 25)
        for i in 0..<30 { bits.data[i] = bits.data[i] > 0 ? 1 : 0; mask.data[i] = mask.data[i] > -0.5 ? 1 : 0 }
        let cases: [(String, (Tensor) -> (loss: Float, grad: Tensor))] = [
            ("mse", { Losses.mse($0, target) }),
            ("ce", { Losses.crossEntropy(logits: $0, targets: y) }),
            ("soft", { Losses.crossEntropy(logits: $0, probabilities: q) }),
            ("bce", { Losses.bceWithLogits(logits: $0, targets: bits, mask: mask) }),
            ("focal2", { Losses.focal(logits: $0, targets: y, gamma: 2) }),
            ("focal0.5", { Losses.focal(logits: $0, targets: y, gamma: 0.5) }),
            ("sfocal", { Losses.sigmoidFocal(logits: $0, targets: bits, mask: mask, gamma: 2, alpha: 0.25) }),
            ("softfocal2", { Losses.focal(logits: $0, probabilities: q, gamma: 2) }),
            ("softfocal0.5", { Losses.focal(logits: $0, probabilities: q, gamma: 0.5) }),
            ("sfocal_soft", { Losses.sigmoidFocal(logits: $0, targets: q, gamma: 1.5, alpha: -1) }),
        ]
        for (name, f) in cases {
            let check = GradCheck.compare(input: z, analytic: f(z).grad, eps: 1e-2) { Double(f($0).loss) }
            #expect(check.passes(rel: 2e-3, abs: 2e-5), "\(name): \(check)")
            // and a wrong gradient is caught (the check can fail)
            var wrong = f(z).grad
            for i in 0..<wrong.count { wrong.data[i] *= 1.05 }
            let bad = GradCheck.compare(input: z, analytic: wrong, eps: 1e-2) { Double(f($0).loss) }
            #expect(!bad.passes(rel: 2e-3, abs: 2e-5), "\(name): scaled gradient passed \(bad)")
        }
    }
}
