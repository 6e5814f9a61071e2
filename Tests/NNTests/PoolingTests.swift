import Testing
@testable import NN
import Tensors

@Suite struct PoolingTests {
    @Test func avgPoolGradientCheck() {
        for k in [2, 3] {
            let pool = AvgPool2d(kernel: k)
            let x = NormTest.random([2, 3, 7, 8], seed: 31)  // not divisible: trailing rows/cols ignored
            #expect(pool.forward(x).shape == [2, 3, 7 / k, 8 / k])
            NormTest.check(parameters: [], input: x, forward: { pool.forward($0) }, backward: { pool.backward($0) })
        }
    }

    @Test func avgPoolValues() {
        let x = Tensor(shape: [1, 1, 2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(AvgPool2d(kernel: 2).forward(x).data == [3.5, 5.5])
    }

    @Test func globalAvgPoolGradientCheck() {
        let pool = GlobalAvgPool()
        let x = NormTest.random([3, 4, 5, 5], seed: 32)
        let y = pool.forward(x)
        #expect(y.shape == [3, 4])
        var mean0: Float = 0
        for i in 0..<25 { mean0 += x.data[i] }
        #expect(abs(y.data[0] - mean0 / 25) < 1e-6)
        NormTest.check(parameters: [], input: x, forward: { pool.forward($0) }, backward: { pool.backward($0) })
    }

    @Test func maxPoolGradientCheck() {
        let pool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        // Distinct values spaced > 2ε apart so perturbation never changes which entry is the maximum.
        var x = Tensor(zeros: [2, 2, 7, 7])
        var rng = RNG(seed: 33)
        var order = Array(0..<x.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        for (i, o) in order.enumerated() { x.data[i] = Float(o) * 0.05 - 4 }
        #expect(pool.forward(x).shape == [2, 2, 4, 4])
        NormTest.check(parameters: [], input: x, forward: { pool.forward($0) }, backward: { pool.backward($0) })
    }

    @Test func maxPoolPaddingIsNegativeInfinity() {
        // All-negative input: padding must never win.
        let x = Tensor(shape: [1, 1, 2, 2], data: [-4, -3, -2, -1])
        let pool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        #expect(pool.forward(x).data == [-1])
        #expect(pool.backward(Tensor(repeating: 2, shape: [1, 1, 1, 1])).data == [0, 0, 0, 2])
    }
}

@Suite struct PoolingParityTests {
    @Test func matchesPyTorch() throws {
        let f = try TorchFixture.load("resnet_pool.safetensors")
        let x = f.get("x")
        let cases: [(String, (Tensor) -> Tensor, (Tensor) -> Tensor)] = {
            let a2 = AvgPool2d(kernel: 2), a3 = AvgPool2d(kernel: 3), gp = GlobalAvgPool()
            let mp = MaxPool2d(kernel: 3, stride: 2, padding: 1)
            return [("avg2", a2.forward, a2.backward), ("avg3", a3.forward, a3.backward),
                    ("global", gp.forward, gp.backward), ("max", mp.forward, mp.backward)]
        }()
        for (name, forward, backward) in cases {
            let y = forward(x)
            #expect(y.shape == f.get("y_" + name).shape, "\(name)")
            #expect(NormTest.worst(y, f.get("y_" + name)) <= 1, "\(name) output")
            #expect(NormTest.worst(backward(f.get("g_" + name)), f.get("dx_" + name)) <= 1, "\(name) input gradient")
        }
    }
}
