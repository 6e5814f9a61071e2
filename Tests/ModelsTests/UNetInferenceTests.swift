import Testing
@testable import Models
import NN
@testable import Tensors

/// The UNet's inference forward (sampling): the training forward's bytes, no activations kept.
@Suite struct UNetInferenceTests {
    static let config = UNetConfig(inChannels: 3, baseChannels: 16, mults: [1, 2], resBlocks: 1, attnResolutions: [8],
                                   heads: 2, condDim: 4, outChannels: 3, resolution: 16, groups: 4)

    static func inputs(seed: UInt64) -> (x: Tensor, t: [Float], cond: Tensor) {
        (ModelFixture.random([4, 3, 16, 16], seed: seed), [3, 250, 600, 999], ModelFixture.random([4, 4], seed: seed + 1))
    }

    @Test func inferenceForwardEqualsTrainingForwardAndKeepsNoActivations() {
        var rng = RNG(seed: 8)
        let model = UNet(Self.config, rng: &rng)
        let (x, t, cond) = Self.inputs(seed: 60)
        let inferred = model.forward(x, t: t, cond: cond, inference: true)
        #expect(model.cachedActivationBytes == 0)
        let trained = model.forward(x, t: t, cond: cond)
        #expect(inferred.data == trained.data)
        // The training forward keeps at least every conv input: far more than the output.
        #expect(model.cachedActivationBytes > 20 * trained.count * MemoryLayout<Float>.size)
    }

    /// Sampling between a training forward and its backward (what `UNetDenoiser.predict` may do) changes
    /// neither the held activations nor the gradients.
    @Test func inferenceForwardLeavesAPendingBackwardIntact() {
        var rng = RNG(seed: 9)
        let model = UNet(Self.config, rng: &rng)
        let (x, t, cond) = Self.inputs(seed: 61)
        let g = ModelFixture.random([4, 3, 16, 16], seed: 62)
        for p in model.parameters { p.zeroGrad() }
        _ = model.forward(x, t: t, cond: cond)
        model.backward(g)
        let reference = model.parameters.map(\.grad)

        for p in model.parameters { p.zeroGrad() }
        _ = model.forward(x, t: t, cond: cond)
        let held = model.cachedActivationBytes
        let (x2, _, cond2) = Self.inputs(seed: 63)
        _ = model.forward(x2, t: [1, 2, 3, 4], cond: cond2, inference: true)
        #expect(model.cachedActivationBytes == held)
        model.backward(g)
        #expect(model.parameters.map(\.grad) == reference)
    }
}
