import Testing
@testable import NN
import Tensors

/// Finite-difference checks of every layer's backward (input and parameters).
@Suite struct LayerGradCheckTests {
    @Test func groupNorm() {
        let gn = GroupNorm(name: "n", groups: 3, channels: 6)
        for c in 0..<6 { gn.weight.value.data[c] = 1 + 0.2 * Float(c); gn.bias.value.data[c] = 0.1 * Float(c) - 0.2 }
        let x = LayerTest.random([2, 6, 3, 4], seed: 11, scale: 2)
        LayerTest.check(parameters: gn.parameters, input: x, outputShape: x.shape,
                        forward: { gn.forward($0) }, backward: { gn.backward($0) }, rel: 2e-2, abs: 2e-3)
    }

    @Test func groupNormOnVectors() {
        let gn = GroupNorm(name: "n", groups: 2, channels: 8)
        let x = LayerTest.random([3, 8], seed: 12)
        LayerTest.check(parameters: gn.parameters, input: x, outputShape: x.shape,
                        forward: { gn.forward($0) }, backward: { gn.backward($0) }, rel: 2e-2, abs: 2e-3)
    }

    @Test func siluGradient() {
        let x = LayerTest.random([2, 3, 4, 4], seed: 13, scale: 3)
        LayerTest.check(parameters: [], input: x, outputShape: x.shape,
                        forward: { silu($0) }, backward: { siluBackward(x: x, dy: $0) })
    }

    @Test func upsampleGradient() {
        let x = LayerTest.random([2, 3, 3, 5], seed: 14)
        LayerTest.check(parameters: [], input: x, outputShape: [2, 3, 6, 10],
                        forward: { upsampleNearest2x($0) }, backward: { upsampleNearest2xBackward($0) })
    }

    @Test func concatGradient() {
        let a = LayerTest.random([2, 3, 2, 2], seed: 15), b = LayerTest.random([2, 4, 2, 2], seed: 16)
        LayerTest.check(parameters: [], input: a, outputShape: [2, 7, 2, 2],
                        forward: { concatChannels($0, b) }, backward: { splitChannels($0, first: 3).0 })
        LayerTest.check(parameters: [], input: b, outputShape: [2, 7, 2, 2],
                        forward: { concatChannels(a, $0) }, backward: { splitChannels($0, first: 3).1 })
    }

    @Test func attentionGradient() {
        let attn = SpatialSelfAttention(heads: 2)
        let qkv = LayerTest.random([2, 12, 3, 3], seed: 17, scale: 1.5)
        LayerTest.check(parameters: [], input: qkv, outputShape: [2, 4, 3, 3],
                        forward: { attn.forward($0) }, backward: { attn.backward($0) })
    }

    /// Softmax rows sum to one and a single head with identical keys averages the values.
    @Test func attentionWithEqualKeysAveragesValues() {
        let attn = SpatialSelfAttention(heads: 1)
        var qkv = LayerTest.random([1, 6, 2, 2], seed: 18)
        for d in 0..<2 { for p in 0..<4 { qkv.data[(2 + d) * 4 + p] = 0.5 } }  // k constant
        let o = attn.forward(qkv)
        for d in 0..<2 {
            let mean = (0..<4).map { qkv.data[(4 + d) * 4 + $0] }.reduce(0, +) / 4
            for p in 0..<4 { #expect(abs(o.data[d * 4 + p] - mean) < 1e-6) }
        }
    }

    @Test func timestepEmbeddingGradient() {
        let t: [Float] = [0.5, 3, 17.25]
        let g = GradCheck.direction([3, 8], seed: 19)
        let dt = TimestepEmbedding.backward(t, dy: g)
        let r = GradCheck.compare(input: Tensor(shape: [3], data: t), analytic: Tensor(shape: [3], data: dt), eps: 1e-3) {
            GradCheck.probe(TimestepEmbedding.forward($0.data, dim: 8), g)
        }
        #expect(r.passes(rel: 2e-2, abs: 1e-3), "\(r)")
    }
}
