import Foundation
import Testing
@testable import NN
import Tensors

/// Shared by the BatchNorm / ReLU / pooling tests: seeded tensors, gradient-check driver, closeness measure.
enum NormTest {
    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1, offset: Float = 0) -> Tensor {
        var t = GradCheck.direction(shape, seed: seed)
        for i in 0..<t.count { t.data[i] = t.data[i] * scale + offset }
        return t
    }

    /// Largest |a − b| / (atol + rtol·|b|): ≤ 1 means every element is within 1e-4 rel / 1e-5 abs.
    static func worst(_ a: Tensor, _ b: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5) -> Float {
        guard a.count == b.count else { return .infinity }
        var w: Float = 0
        for i in 0..<a.count {
            let e = abs(a.data[i] - b.data[i]) / (atol + rtol * abs(b.data[i]))
            if !(e <= w) { w = e }   // NaN counts as a failure
        }
        return w
    }

    /// Finite-difference check of ∂(Σ out·g)/∂x and of every parameter gradient.
    static func check(parameters: [Parameter], input x: Tensor, forward: @escaping (Tensor) -> Tensor,
                      backward: (Tensor) -> Tensor, eps: Float = 1e-2, rel: Double = 1e-2, abs: Double = 1e-3,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        for p in parameters { p.zeroGrad() }
        let y = forward(x)
        let g = GradCheck.direction(y.shape, seed: 77)
        let dx = backward(g)
        let rx = GradCheck.compare(input: x, analytic: dx, eps: eps) { GradCheck.probe(forward($0), g) }
        #expect(rx.checked > 0 && rx.passes(rel: rel, abs: abs), "input: \(rx)", sourceLocation: sourceLocation)
        for p in parameters {
            let rp = GradCheck.compare(parameter: p, eps: eps) { GradCheck.probe(forward(x), g) }
            #expect(rp.passes(rel: rel, abs: abs), "\(p.name): \(rp)", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct BatchNormTests {
    func layer(_ c: Int, relu: Bool = false) -> BatchNorm2d {
        let bn = BatchNorm2d(name: "bn", channels: c, fusedReLU: relu)
        bn.weight.value = NormTest.random([c], seed: 5, scale: 0.5, offset: 1)
        bn.bias.value = NormTest.random([c], seed: 6, scale: 0.3)
        return bn
    }

    @Test func trainModeGradients() {
        // H·W = 20 (not a multiple of 16) exercises the scalar tails of the SIMD kernels; 3·20 = 60 values/channel.
        let bn = layer(3)
        let x = NormTest.random([3, 3, 4, 5], seed: 9, scale: 2, offset: 0.7)
        NormTest.check(parameters: bn.parameters, input: x, forward: { bn.forward($0) }, backward: { bn.backward($0) })
    }

    @Test func trainModeGradientsWideRows() {
        // 2×2×16×17: one full SIMD block plus tail per row.
        let bn = layer(2)
        let x = NormTest.random([2, 2, 16, 17], seed: 10, scale: 1.5, offset: -0.4)
        NormTest.check(parameters: bn.parameters, input: x, forward: { bn.forward($0) }, backward: { bn.backward($0) })
    }

    @Test func evalModeGradients() {
        let bn = layer(3)
        _ = bn.forward(NormTest.random([4, 3, 4, 4], seed: 11, scale: 2, offset: 1))  // non-trivial running stats
        bn.training = false
        let x = NormTest.random([2, 3, 4, 4], seed: 12)
        NormTest.check(parameters: bn.parameters, input: x, forward: { bn.forward($0) }, backward: { bn.backward($0) })
    }

    @Test func fusedReLUEqualsSeparateReLU() {
        let plain = layer(4), fused = layer(4, relu: true)
        let x = NormTest.random([3, 4, 6, 6], seed: 13)
        let g = NormTest.random([3, 4, 6, 6], seed: 14)
        let act = ReLU()
        let y = act.forward(plain.forward(x))
        let yf = fused.forward(x)
        #expect(yf == y)
        let dx = plain.backward(act.backward(g)), dxf = fused.backward(g)
        #expect(NormTest.worst(dxf, dx, rtol: 1e-6, atol: 1e-7) <= 1)
        #expect(NormTest.worst(fused.weight.grad, plain.weight.grad, rtol: 1e-6, atol: 1e-7) <= 1)
        #expect(NormTest.worst(fused.bias.grad, plain.bias.grad, rtol: 1e-6, atol: 1e-7) <= 1)
    }

    @Test func buffersRoundTripUnderPyTorchNames() throws {
        let bn = layer(2)
        _ = bn.forward(NormTest.random([2, 2, 3, 3], seed: 15, offset: 3))
        let saved = bn.buffers
        #expect(saved.map(\.name) == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"])
        #expect(saved[2].tensor.data == [1])
        let other = BatchNorm2d(name: "bn", channels: 2)
        other.buffers = saved
        #expect(other.runningMean == bn.runningMean && other.runningVar == bn.runningVar)
        #expect(other.numBatchesTracked == 1)
        var partial: [String: Tensor] = [:]
        for (n, t) in saved where n != "bn.running_var" { partial[n] = t }
        #expect(throws: LayerStateError.self) { try other.restoreBuffers(from: partial, source: "ckpt.safetensors") }
    }

    @Test func deterministicAcrossThreadCounts() {
        // 40 960 elements: above Parallel's default minWork (32 768), so 2 threads really split the channels
        // (at the former 4×8×8×8 both runs took the serial path and the test could not fail).
        let x = NormTest.random([4, 8, 32, 40], seed: 16)
        let g = NormTest.random([4, 8, 32, 40], seed: 17)
        func run(_ threads: Int) -> (Tensor, Tensor, Tensor) {
            ThreadScope.with(threads: threads) {
                let bn = layer(8, relu: true)
                let y = bn.forward(x)
                return (y, bn.backward(g), bn.weight.grad)
            }
        }
        let a = run(1), b = run(2)
        #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2)
    }
}

/// Reference values written by Tests/Fixtures/torch/make_resnet_fixtures.py.
enum TorchFixture {
    static func load(_ name: String) throws -> SafeTensorsFile {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        return try SafeTensors.read(path: url.appendingPathComponent("Fixtures/torch/\(name)").path)
    }
}

extension SafeTensorsFile {
    /// The named tensor; fails the test (and returns an empty tensor) when missing.
    func get(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> Tensor {
        guard let t = tensors[name] else {
            Issue.record("fixture has no tensor \(name)", sourceLocation: sourceLocation)
            return Tensor(zeros: [0])
        }
        return t
    }
}

@Suite struct BatchNormParityTests {
    @Test(arguments: [false, true]) func matchesPyTorch(relu: Bool) throws {
        let f = try TorchFixture.load("resnet_bn.safetensors")
        let tag = relu ? "_relu" : ""
        let bn = BatchNorm2d(name: "bn", channels: 3, fusedReLU: relu)
        bn.weight.value = f.get("weight"); bn.bias.value = f.get("bias")
        bn.buffers = [("bn.running_mean", f.get("running_mean0")), ("bn.running_var", f.get("running_var0")),
                      ("bn.num_batches_tracked", Tensor(shape: [], data: [5]))]
        let x = f.get("x"), g = f.get("g")
        // Train step: batch statistics, then running statistics updated.
        #expect(NormTest.worst(bn.forward(x), f.get("y_train" + tag)) <= 1)
        #expect(NormTest.worst(bn.backward(g), f.get("dx_train" + tag)) <= 1)
        #expect(NormTest.worst(bn.weight.grad, f.get("dweight_train" + tag)) <= 1)
        #expect(NormTest.worst(bn.bias.grad, f.get("dbias_train" + tag)) <= 1)
        #expect(NormTest.worst(bn.runningMean, f.get("running_mean1")) <= 1)
        #expect(NormTest.worst(bn.runningVar, f.get("running_var1")) <= 1)
        #expect(bn.buffers[2].tensor.data == f.get("num_batches_tracked1").data)
        // Eval: the updated running statistics normalise.
        bn.training = false
        for p in bn.parameters { p.zeroGrad() }
        #expect(NormTest.worst(bn.forward(x), f.get("y_eval" + tag)) <= 1)
        #expect(NormTest.worst(bn.backward(g), f.get("dx_eval" + tag)) <= 1)
        #expect(NormTest.worst(bn.weight.grad, f.get("dweight_eval" + tag)) <= 1)
        #expect(NormTest.worst(bn.bias.grad, f.get("dbias_eval" + tag)) <= 1)
    }
}
