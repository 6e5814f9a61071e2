import Testing
@testable import NN
import Tensors

/// Forward outputs, input gradients and parameter gradients against PyTorch (float64 reference),
/// within 1e-4 relative or 1e-5 absolute per element.
@Suite struct LayerParityTests {
    func checkConv(_ name: String, _ cin: Int, _ cout: Int, _ k: Int, _ s: Int, _ p: Int) throws {
        let f = try TorchFixture(name)
        var rng = RNG(seed: 0)
        let conv = Conv2d(name: "m", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p, rng: &rng)
        f.load(conv.parameters, stripping: "m.")
        let y = conv.forward(f["x"])
        #expect(LayerTest.worst(y, f["y"]) <= 1)
        let dx = conv.backward(f["g"])
        #expect(LayerTest.worst(dx, f["dx"]) <= 1)
        f.expectGrads(conv.parameters, stripping: "m.")
    }

    @Test func conv3x3() throws { try checkConv("conv3x3", 5, 6, 3, 1, 1) }
    @Test func conv3x3Stride2() throws { try checkConv("conv3x3_stride2", 4, 6, 3, 2, 1) }
    @Test func conv1x1() throws { try checkConv("conv1x1", 7, 5, 1, 1, 0) }

    @Test func linear() throws {
        let f = try TorchFixture("linear")
        var rng = RNG(seed: 0)
        let lin = Linear(name: "m", inFeatures: 10, outFeatures: 12, rng: &rng)
        f.load(lin.parameters, stripping: "m.")
        #expect(LayerTest.worst(lin.forward(f["x"]), f["y"]) <= 1)
        #expect(LayerTest.worst(lin.backward(f["g"]), f["dx"]) <= 1)
        f.expectGrads(lin.parameters, stripping: "m.")
    }

    @Test func groupNorm() throws {
        let f = try TorchFixture("groupnorm")
        let gn = GroupNorm(name: "m", groups: 4, channels: 12)
        f.load(gn.parameters, stripping: "m.")
        #expect(LayerTest.worst(gn.forward(f["x"]), f["y"]) <= 1)
        #expect(LayerTest.worst(gn.backward(f["g"]), f["dx"]) <= 1)
        f.expectGrads(gn.parameters, stripping: "m.")
    }

    @Test func siluMatches() throws {
        let f = try TorchFixture("silu")
        #expect(LayerTest.worst(silu(f["x"]), f["y"]) <= 1)
        #expect(LayerTest.worst(siluBackward(x: f["x"], dy: f["g"]), f["dx"]) <= 1)
    }

    @Test func upsample() throws {
        let f = try TorchFixture("upsample")
        #expect(LayerTest.worst(upsampleNearest2x(f["x"]), f["y"]) <= 1)
        #expect(LayerTest.worst(upsampleNearest2xBackward(f["g"]), f["dx"]) <= 1)
    }

    @Test func concat() throws {
        let f = try TorchFixture("concat")
        #expect(concatChannels(f["a"], f["b"]) == f["y"])
        let (da, db) = splitChannels(f["g"], first: 3)
        #expect(da == f["da"] && db == f["db"])
    }

    @Test func timestepEmbedding() throws {
        let f = try TorchFixture("temb")
        let e = TimestepEmbedding.forward(f["t"].data, dim: 32)
        // float32 sin/cos of arguments up to ~999 rad: both sides round the argument identically, so
        // only the last-ulp difference of the libm results remains.
        #expect(LayerTest.worst(e, f["y"], rtol: 1e-5, atol: 1e-6) <= 1)
    }
}
