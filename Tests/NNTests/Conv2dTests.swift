import Testing
@testable import NN
import Tensors

@Suite struct Conv2dTests {
    /// Direct 7-loop convolution in Double: the definition the GEMM path must reproduce.
    static func naive(_ x: Tensor, _ conv: Conv2d) -> Tensor {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let k = conv.kernel, s = conv.stride, p = conv.padding, co = conv.outChannels
        let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
        var y = Tensor(zeros: [n, co, ho, wo])
        for b in 0..<n { for o in 0..<co { for i in 0..<ho { for j in 0..<wo {
            var acc = Double(conv.bias?.value.data[o] ?? 0)
            for ci in 0..<c { for ki in 0..<k { for kj in 0..<k {
                let ih = i * s - p + ki, iw = j * s - p + kj
                if ih < 0 || ih >= h || iw < 0 || iw >= w { continue }
                acc += Double(x[b, ci, ih, iw]) * Double(conv.weight.value[o, ci, ki, kj])
            }}}
            y[b, o, i, j] = Float(acc)
        }}}}
        return y
    }

    static let configs: [(k: Int, s: Int, p: Int, h: Int, w: Int, n: Int)] = [
        (3, 1, 1, 6, 5, 2), (3, 2, 1, 7, 8, 3), (1, 1, 0, 4, 4, 1), (1, 1, 0, 4, 4, 3),
        (5, 2, 2, 9, 6, 2), (2, 2, 0, 6, 6, 2), (4, 1, 3, 3, 3, 1),
    ]

    @Test(arguments: 0..<configs.count)
    func forwardMatchesNaiveConvolution(_ idx: Int) {
        let cfg = Self.configs[idx]
        var rng = RNG(seed: UInt64(10 + idx))
        let conv = Conv2d(name: "c", inChannels: 3, outChannels: 4, kernel: cfg.k, stride: cfg.s, padding: cfg.p, rng: &rng)
        let x = LayerTest.random([cfg.n, 3, cfg.h, cfg.w], seed: 5)
        let y = conv.forward(x)
        #expect(LayerTest.worst(y, Self.naive(x, conv)) <= 1)
    }

    @Test(arguments: 0..<configs.count)
    func gradientsMatchFiniteDifferences(_ idx: Int) {
        let cfg = Self.configs[idx]
        var rng = RNG(seed: UInt64(20 + idx))
        let conv = Conv2d(name: "c", inChannels: 3, outChannels: 4, kernel: cfg.k, stride: cfg.s, padding: cfg.p, rng: &rng)
        let x = LayerTest.random([cfg.n, 3, cfg.h, cfg.w], seed: 6)
        let ho = (cfg.h + 2 * cfg.p - cfg.k) / cfg.s + 1, wo = (cfg.w + 2 * cfg.p - cfg.k) / cfg.s + 1
        LayerTest.check(parameters: conv.parameters, input: x, outputShape: [cfg.n, 4, ho, wo],
                        forward: { conv.forward($0) }, backward: { conv.backward($0) }, rel: 1e-2)
    }

    /// Many small images exercise the multi-image chunk path (columns of several images in one GEMM).
    @Test func chunkedBatchMatchesSingleImages() {
        var rng = RNG(seed: 3)
        let conv = Conv2d(name: "c", inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1, rng: &rng)
        let x = LayerTest.random([5, 2, 4, 4], seed: 8)
        let g = LayerTest.random([5, 3, 4, 4], seed: 9)
        let y = conv.forward(x)
        let dx = conv.backward(g)
        let dw = conv.weight.grad
        var dwSum = Tensor(zeros: dw.shape)
        for b in 0..<5 {
            let xi = Tensor(shape: [1, 2, 4, 4], data: Array(x.data[(b * 32)..<((b + 1) * 32)]))
            let gi = Tensor(shape: [1, 3, 4, 4], data: Array(g.data[(b * 48)..<((b + 1) * 48)]))
            conv.weight.zeroGrad()
            let yi = conv.forward(xi)
            let dxi = conv.backward(gi)
            #expect(yi.data == Array(y.data[(b * 48)..<((b + 1) * 48)]))
            #expect(LayerTest.worst(dxi, Tensor(shape: [1, 2, 4, 4], data: Array(dx.data[(b * 32)..<((b + 1) * 32)]))) <= 1)
            Elementwise.addInPlace(&dwSum, conv.weight.grad)
        }
        #expect(LayerTest.worst(dwSum, dw) <= 1)
    }
}

@Suite struct LinearTests {
    @Test func forwardIsAffineMap() {
        var rng = RNG(seed: 1)
        let lin = Linear(name: "l", inFeatures: 3, outFeatures: 2, rng: &rng)
        let x = LayerTest.random([4, 3], seed: 2)
        let y = lin.forward(x)
        for i in 0..<4 { for o in 0..<2 {
            var s = lin.bias!.value.data[o]
            for j in 0..<3 { s += x[i, j] * lin.weight.value[o, j] }
            #expect(abs(y[i, o] - s) < 1e-5)
        }}
    }

    @Test func gradientsMatchFiniteDifferences() {
        var rng = RNG(seed: 2)
        let lin = Linear(name: "l", inFeatures: 7, outFeatures: 5, rng: &rng)
        let x = LayerTest.random([3, 7], seed: 3)
        LayerTest.check(parameters: lin.parameters, input: x, outputShape: [3, 5],
                        forward: { lin.forward($0) }, backward: { lin.backward($0) }, rel: 1e-2)
    }

    @Test func initBoundsFollowPyTorch() {
        var rng = RNG(seed: 4)
        let lin = Linear(name: "t1", inFeatures: 64, outFeatures: 256, rng: &rng)
        #expect(lin.weight.name == "t1.weight" && lin.bias!.name == "t1.bias")
        #expect(lin.weight.value.data.allSatisfy { abs($0) <= 0.125 })
        #expect(lin.weight.value.data.contains { abs($0) > 0.1 })
    }
}
