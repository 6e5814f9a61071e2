import Testing
@testable import Models
import NN
import Tensors

@Suite struct BlockParityTests {
    @Test func resBlockMatchesPyTorch() throws {
        let f = try ModelFixture.read("resblock")
        var rng = RNG(seed: 0)
        let rb = ResBlock(name: "m", inChannels: 8, outChannels: 12, embDim: 16, groups: 4, rng: &rng)
        ModelFixture.load(rb.parameters, from: f, stripping: "m.")
        // The fixture feeds `emb` to ResBlock, which applies SiLU itself; ours takes SiLU(emb).
        let emb = f.tensors["emb"]!
        let y = rb.forward(f.tensors["x"]!, embSilu: silu(emb))
        #expect(ModelFixture.worst(y, f.tensors["y"]) <= 1)
        let (dx, dEs) = rb.backward(f.tensors["g"]!)
        #expect(ModelFixture.worst(dx, f.tensors["dx"]) <= 1)
        #expect(ModelFixture.worst(siluBackward(x: emb, dy: dEs), f.tensors["demb"]) <= 1)
        ModelFixture.expectGrads(rb.parameters, in: f, stripping: "m.")
    }

    @Test func attnBlockMatchesPyTorch() throws {
        let f = try ModelFixture.read("attn_block")
        var rng = RNG(seed: 0)
        let block = AttnBlock(name: "m", channels: 32, heads: 4, rng: &rng)
        ModelFixture.load(block.parameters, from: f, stripping: "m.")
        #expect(ModelFixture.worst(block.forward(f.tensors["x"]!), f.tensors["y"]) <= 1)
        #expect(ModelFixture.worst(block.backward(f.tensors["g"]!), f.tensors["dx"]) <= 1)
        ModelFixture.expectGrads(block.parameters, in: f, stripping: "m.")
    }
}

@Suite struct UNetTests {
    static let small = UNetConfig(inChannels: 6, baseChannels: 8, mults: [1, 2], resBlocks: 2, attnResolutions: [8],
                                  heads: 4, condDim: 10, outChannels: 3, resolution: 16, groups: 4)

    /// 6,475,011 = `sum(p.numel() for p in UNet(32).parameters())` with shared/bench/torch_reference.py
    /// (torch 2.x, computed with python3 when this test was written).
    @Test func referenceParameterCountMatchesPyTorch() {
        var rng = RNG(seed: 0)
        let model = UNet(.reference(resolution: 32), rng: &rng)
        #expect(model.parameterCount == 6_475_011)
        #expect(model.parameters.first?.name == "t1.weight" && model.parameters.last?.name == "out_c.bias")
        #expect(Set(model.parameters.map(\.name)).count == model.parameters.count)
    }

    /// Forward output and every parameter gradient of the small UNet against PyTorch (names, shapes, values).
    @Test func smallUNetMatchesPyTorch() throws {
        let w = try ModelFixture.read("unet_small_weights")
        let g = try ModelFixture.read("unet_small_grads")
        var rng = RNG(seed: 0)
        let model = UNet(Self.small, rng: &rng)
        let order = w.metadata["param_order"]?.split(separator: ",").map(String.init) ?? []
        #expect(model.parameters.map(\.name) == order, "parameter order differs from named_parameters()")
        try model.load(w.tensors, prefix: "p.", source: "unet_small_weights")
        for p in model.parameters { p.zeroGrad() }
        let y = model.forward(w.tensors["x"]!, t: w.tensors["t"]!.data, cond: w.tensors["cond"]!)
        #expect(ModelFixture.worst(y, g.tensors["y"]) <= 1)
        model.backward(w.tensors["g"]!)
        ModelFixture.expectGrads(model.parameters, in: g, stripping: "")
    }

    static func run(_ model: UNet, seed: UInt64) -> (Tensor, [Tensor]) {
        let c = model.config
        let x = ModelFixture.random([3, c.inChannels, c.resolution, c.resolution], seed: seed)
        var cond = Tensor(zeros: [3, c.condDim]); cond.data[2] = 1
        for p in model.parameters { p.zeroGrad() }
        let y = model.forward(x, t: [5, 500, 999], cond: cond)
        model.backward(ModelFixture.random(y.shape, seed: seed + 1))
        return (y, model.parameters.map(\.grad))
    }

    @Test func forwardBackwardIsBitIdenticalAcrossRunsAndInstances() {
        var rng1 = RNG(seed: 42), rng2 = RNG(seed: 42)
        let a = UNet(Self.small, rng: &rng1), b = UNet(Self.small, rng: &rng2)
        let (y1, g1) = Self.run(a, seed: 7)
        let (y2, g2) = Self.run(a, seed: 7)
        let (y3, g3) = Self.run(b, seed: 7)
        #expect(y1 == y2 && y1 == y3)
        #expect(g1 == g2 && g1 == g3)
        #expect(g1.contains { $0.data.contains { $0 != 0 } })
    }

    /// A tiny UNet trained with Adam on one fixed batch (fixed t and noise) must at least halve the DDPM loss.
    @Test func adamHalvesDDPMLossOnFixedBatch() {
        let config = UNetConfig(inChannels: 3, baseChannels: 8, mults: [1, 2], resBlocks: 1, attnResolutions: [4],
                                heads: 2, condDim: 10, outChannels: 3, resolution: 8, groups: 4)
        var rng = RNG(seed: 3)
        let model = UNet(config, rng: &rng)
        let adam = Adam(parameters: model.parameters, learningRate: 2e-3)
        let x0 = ModelFixture.random([4, 3, 8, 8], seed: 11)
        let noise = ModelFixture.random([4, 3, 8, 8], seed: 12)
        var cond = Tensor(zeros: [4, 10])
        for b in 0..<4 { cond.data[b * 10 + b] = 1 }
        let t: [Float] = [10, 200, 500, 900]
        var abar: [Float] = [], prod: Float = 1
        for i in 0..<1000 { prod *= 1 - Float(1e-4 + (0.02 - 1e-4) * Double(i) / 999); abar.append(prod) }
        var xt = Tensor(zeros: x0.shape)
        for b in 0..<4 {
            let a = abar[Int(t[b])]
            for i in (b * 192)..<((b + 1) * 192) { xt.data[i] = a.squareRoot() * x0.data[i] + (1 - a).squareRoot() * noise.data[i] }
        }
        var losses: [Float] = []
        for _ in 0..<200 {
            let (loss, grad) = Losses.mse(model.forward(xt, t: t, cond: cond), noise)
            losses.append(loss)
            for p in model.parameters { p.zeroGrad() }
            model.backward(grad)
            adam.step()
        }
        let last = losses.suffix(5).reduce(0, +) / 5
        #expect(losses[0].isFinite && last.isFinite)
        #expect(last <= 0.5 * losses[0], "loss \(losses[0]) → \(last)")
    }
}
