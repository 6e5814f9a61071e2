import Foundation
import Testing
@testable import NN
import Tensors

/// Optimizers and gradient clipping against torch.optim / clip_grad_norm_ (train_optim.safetensors).
@Suite struct OptimizerTests {
    let fixture: SafeTensorsFile
    init() throws { fixture = try trainFixture("train_optim.safetensors") }
    func t(_ name: String) -> Tensor { fixture.tensors[name]! }

    /// Fresh parameters "a" [3,4] and "b" [5] at the fixture's initial values.
    func params() -> [Parameter] {
        ["a", "b"].map { Parameter(name: $0, value: t("init." + $0)) }
    }

    /// Gradient of step `s` (0-based) for parameter `k`.
    func grad(_ k: String, step s: Int) -> Tensor {
        let all = t("grads." + k)
        let n = all.count / all.shape[0]
        return Tensor(shape: Array(all.shape.dropFirst()), data: Array(all.data[(s * n)..<((s + 1) * n)]))
    }

    /// Runs the fixture's 4 steps (with its per-step learning rates) and compares every step and the
    /// final optimizer state.
    func runParity(_ name: String, _ make: ([Parameter]) -> any Optimizer, slots: [String]) {
        let ps = params()
        let opt = make(ps)
        let lrs = t("lrs").data
        for s in 0..<lrs.count {
            opt.learningRate = lrs[s]
            for p in ps { p.grad = grad(p.name, step: s) }
            opt.step()
            for p in ps { trainExpectClose(p.value, t("\(name).step\(s + 1).\(p.name)"), "\(name) step \(s + 1) \(p.name)") }
        }
        #expect(opt.stepCount == lrs.count)
        let state = Dictionary(uniqueKeysWithValues: opt.stateTensors().map { ($0.name, $0.tensor) })
        #expect(Set(state.keys) == Set(ps.flatMap { p in slots.map { "\(p.name).\($0)" } }), "\(name) state names")
        for (key, value) in state { trainExpectClose(value, t("\(name).state.\(key)"), "\(name) state \(key)") }
    }

    @Test func adamMatchesTorch() {
        runParity("adam", { Adam(parameters: $0, learningRate: 0.01) }, slots: ["exp_avg", "exp_avg_sq"])
        runParity("adam_l2", { Adam(parameters: $0, learningRate: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1) },
                  slots: ["exp_avg", "exp_avg_sq"])
    }

    @Test func adamWMatchesTorch() {
        runParity("adamw", { AdamW(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }, slots: ["exp_avg", "exp_avg_sq"])
    }

    @Test func sgdMatchesTorch() {
        runParity("sgd", { SGD(parameters: $0, learningRate: 0.01, momentum: 0.9, weightDecay: 0.01) }, slots: ["momentum"])
        runParity("sgd_nesterov", { SGD(parameters: $0, learningRate: 0.01, momentum: 0.5, nesterov: true) }, slots: ["momentum"])
        runParity("sgd_plain", { SGD(parameters: $0, learningRate: 0.01) }, slots: [])
    }

    /// Adam's first bias-corrected step moves every coordinate by lr·g/(|g| + ε) ≈ lr·sign(g).
    @Test func adamFirstStepIsLearningRateTimesSign() {
        let p = Parameter(name: "w", value: Tensor(shape: [4], data: [1, -1, 0.5, 2]))
        p.grad = Tensor(shape: [4], data: [3, -0.001, 1e-3, -50])
        let opt = Adam(parameters: [p], learningRate: 0.1)
        opt.step()
        let expected: [Float] = [0.9, -0.9, 0.4, 2.1]
        for i in 0..<4 { #expect(abs(p.value.data[i] - expected[i]) < 1e-5, "\(i): \(p.value.data[i])") }
    }

    /// Exported state restored into a fresh optimizer continues bit-identically; missing or mis-shaped
    /// slots are reported by name.
    @Test func stateRoundTripContinuesIdentically() throws {
        for make in [{ Adam(parameters: $0, learningRate: 0.01) } as ([Parameter]) -> any Optimizer,
                     { AdamW(parameters: $0, learningRate: 0.01) },
                     { SGD(parameters: $0, learningRate: 0.01, momentum: 0.9) }] {
            let a = params(), b = params()
            let optA = make(a), optB = make(b)
            for s in 0..<2 { for p in a { p.grad = grad(p.name, step: s) }; optA.step() }
            // b: same values, state copied over
            for (pa, pb) in zip(a, b) { pb.value = pa.value }
            try optB.loadState(Dictionary(uniqueKeysWithValues: optA.stateTensors().map { ($0.name, $0.tensor) }),
                               stepCount: optA.stepCount, source: "mem")
            for s in 2..<4 {
                for p in a { p.grad = grad(p.name, step: s) }
                for p in b { p.grad = grad(p.name, step: s) }
                optA.step(); optB.step()
            }
            for (pa, pb) in zip(a, b) { #expect(pa.value.data.map(\.bitPattern) == pb.value.data.map(\.bitPattern)) }
        }
        let opt = Adam(parameters: params())
        do {
            try opt.loadState(["a.exp_avg": Tensor(zeros: [3, 4])], stepCount: 1, source: "x.safetensors")
            Issue.record("loading incomplete state succeeded")
        } catch {
            #expect("\(error)".contains("x.safetensors") && "\(error)".contains("a.exp_avg_sq"))
        }
        #expect(opt.stepCount == 0)
    }

    @Test func clipGradNormMatchesTorch() {
        for c in ["clip", "noclip"] {
            let ps = params()
            ps[0].grad = Tensor(shape: [3, 4], data: grad("a", step: 0).data.map { $0 * 2 })
            ps[1].grad = Tensor(shape: [5], data: grad("b", step: 0).data.map { $0 * 2 })
            let norm = clipGradNorm(ps, maxNorm: t(c + ".max_norm").data[0])
            trainExpectClose(Tensor(shape: [1], data: [norm]), t(c + ".norm"), "\(c) norm")
            trainExpectClose(ps[0].grad, t(c + ".grad.a"), "\(c) grad a")
            trainExpectClose(ps[1].grad, t(c + ".grad.b"), "\(c) grad b")
        }
        // After clipping, the global norm is maxNorm (up to the 1e-6 guard).
        let p = Parameter(name: "p", value: Tensor(zeros: [2]))
        p.grad = Tensor(shape: [2], data: [3, 4])
        #expect(clipGradNorm([p], maxNorm: 1) == 5)
        #expect(abs(p.grad.data[0] - 0.6) < 1e-6 && abs(p.grad.data[1] - 0.8) < 1e-6)
    }
}
