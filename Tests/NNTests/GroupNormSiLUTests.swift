import Testing
@testable import NN
import Tensors

/// `GroupNorm.forward(_:silu: true)`: SiLU fused into the normalisation, with the backward recomputing the
/// SiLU input instead of keeping it.
@Suite struct GroupNormSiLUTests {
    static func layer(groups: Int, channels: Int) -> GroupNorm {
        let gn = GroupNorm(name: "n", groups: groups, channels: channels)
        for c in 0..<channels {
            gn.weight.value.data[c] = 1 + 0.2 * Float(c) - 0.1 * Float(c % 3)
            gn.bias.value.data[c] = 0.15 * Float(c) - 0.4
        }
        return gn
    }

    @Test func gradientCheck() {
        let gn = GroupNormSiLUTests.layer(groups: 3, channels: 6)
        // 17 spatial values per channel: not a multiple of the kernels' 16-lane blocks.
        let x = LayerTest.random([2, 6, 1, 17], seed: 21, scale: 2)
        LayerTest.check(parameters: gn.parameters, input: x, outputShape: x.shape,
                        forward: { gn.forward($0, silu: true) }, backward: { gn.backward($0) }, rel: 2e-2, abs: 2e-3)
    }

    /// Fused and unfused give the same bits: output, input gradient and both parameter gradients.
    @Test func fusedEqualsGroupNormThenSiLU() {
        for shape in [[2, 8, 5, 7], [3, 8, 16, 16], [1, 8, 1, 1]] {
            let x = LayerTest.random(shape, seed: 22, scale: 3), dy = LayerTest.random(shape, seed: 23)
            let fused = GroupNormSiLUTests.layer(groups: 4, channels: 8)
            let plain = GroupNormSiLUTests.layer(groups: 4, channels: 8)
            let y = fused.forward(x, silu: true)
            let a = plain.forward(x)
            #expect(y.data.map(\.bitPattern) == silu(a).data.map(\.bitPattern), "forward \(shape)")
            let dx = fused.backward(dy)
            let dxPlain = plain.backward(siluBackward(x: a, dy: dy))
            #expect(dx.data.map(\.bitPattern) == dxPlain.data.map(\.bitPattern), "backward \(shape)")
            #expect(fused.weight.grad == plain.weight.grad && fused.bias.grad == plain.bias.grad, "parameters \(shape)")
        }
    }

    /// The mode belongs to the last forward: a plain forward after a fused one is plain again.
    @Test func backwardFollowsTheLastForward() {
        let x = LayerTest.random([2, 6, 3, 3], seed: 24), dy = LayerTest.random([2, 6, 3, 3], seed: 25)
        let a = GroupNormSiLUTests.layer(groups: 3, channels: 6), b = GroupNormSiLUTests.layer(groups: 3, channels: 6)
        _ = a.forward(x, silu: true)
        _ = a.forward(x)
        _ = b.forward(x)
        #expect(a.backward(dy) == b.backward(dy))
    }
}
