import NN
import Tensors

/// Configuration of the conditional UNet of `shared/bench/torch_reference.py`, generalised in the input
/// channel count (the cascaded upsampler feeds 6 = noisy high-res ⊕ upsampled low-res), width, depth and
/// attention placement. The embedding width is 4·baseChannels; the sinusoidal embedding has baseChannels.
public struct UNetConfig: Sendable, Equatable, Codable {
    public var inChannels: Int
    public var baseChannels: Int
    public var mults: [Int]
    public var resBlocks: Int
    /// Spatial sizes (e.g. 16) at which each ResBlock is followed by an attention block.
    public var attnResolutions: [Int]
    public var heads: Int
    public var condDim: Int
    public var outChannels: Int
    /// Input height = width.
    public var resolution: Int
    /// GroupNorm groups (32 in the reference).
    public var groups: Int

    public init(inChannels: Int, baseChannels: Int, mults: [Int], resBlocks: Int, attnResolutions: [Int],
                heads: Int, condDim: Int, outChannels: Int, resolution: Int, groups: Int = 32) {
        self.inChannels = inChannels; self.baseChannels = baseChannels; self.mults = mults
        self.resBlocks = resBlocks; self.attnResolutions = attnResolutions; self.heads = heads
        self.condDim = condDim; self.outChannels = outChannels; self.resolution = resolution; self.groups = groups
    }

    /// The benchmark network (W1/W3 at 32, W2 at 64): ch 64, mults (1,2,2), 2 res blocks, attention at 16.
    public static func reference(resolution: Int) -> UNetConfig {
        UNetConfig(inChannels: 3, baseChannels: 64, mults: [1, 2, 2], resBlocks: 2, attnResolutions: [16],
                   heads: 4, condDim: 10, outChannels: 3, resolution: resolution)
    }
}

/// The conditional DDPM UNet, layer for layer as the PyTorch reference (parameter names = its state_dict keys):
///   emb = t2(SiLU(t1(sinusoidal(t)))) + cond(c);  h = conv_in(x);  down (ResBlock [+Attn])×resBlocks, strided
///   conv between levels;  mid ResBlock, Attn, ResBlock;  up (cat skip, ResBlock [+Attn])×(resBlocks+1),
///   nearest ×2 + conv between levels;  out = out_c(SiLU(out_n(h))).
/// Shapes: x `[N, inChannels, R, R]`, t `[N]` (timesteps as Float), cond `[N, condDim]` → `[N, outChannels, R, R]`.
/// `backward` accumulates every parameter gradient (∂L/∂x is not formed: conv_in skips it).
public final class UNet {
    enum Block {
        case res(ResBlock, AttnBlock?)
        case downsample(Conv2d)
        case upsample(Conv2d)
    }

    public let config: UNetConfig
    let t1: Linear, t2: Linear, cond: Linear, convIn: Conv2d
    let down: [Block]
    let mid: (ResBlock, AttnBlock, ResBlock)
    let up: [Block]
    let outNorm: GroupNorm, outConv: Conv2d
    /// All parameters in PyTorch `named_parameters()` order.
    public let parameters: [Parameter]

    // Forward caches: pre-SiLU embeddings, skip bookkeeping of the up path, the output GroupNorm result.
    private var e1 = Tensor(zeros: [0]), e = Tensor(zeros: [0]), aOut = Tensor(zeros: [0])
    private var skipCount = 0
    private var upSkips: [(index: Int, hChannels: Int)] = []

    public init(_ config: UNetConfig, rng: inout RNG) {
        self.config = config
        let ch = config.baseChannels, tdim = 4 * ch, g = config.groups
        t1 = Linear(name: "t1", inFeatures: ch, outFeatures: tdim, rng: &rng)
        t2 = Linear(name: "t2", inFeatures: tdim, outFeatures: tdim, rng: &rng)
        cond = Linear(name: "cond", inFeatures: config.condDim, outFeatures: tdim, rng: &rng)
        convIn = Conv2d(name: "conv_in", inChannels: config.inChannels, outChannels: ch, kernel: 3, padding: 1, rng: &rng)
        convIn.needsInputGradient = false

        var down: [Block] = [], chans = [ch], c = ch, r = config.resolution
        for (i, m) in config.mults.enumerated() {
            for _ in 0..<config.resBlocks {
                let name = "down.\(down.count)"
                let res = ResBlock(name: name + ".0", inChannels: c, outChannels: ch * m, embDim: tdim, groups: g, rng: &rng)
                let attn = config.attnResolutions.contains(r)
                    ? AttnBlock(name: name + ".1", channels: ch * m, heads: config.heads, groups: g, rng: &rng) : nil
                down.append(.res(res, attn))
                c = ch * m; chans.append(c)
            }
            if i != config.mults.count - 1 {
                down.append(.downsample(Conv2d(name: "down.\(down.count)", inChannels: c, outChannels: c, kernel: 3,
                                               stride: 2, padding: 1, rng: &rng)))
                chans.append(c); r /= 2
            }
        }
        self.down = down
        mid = (ResBlock(name: "mid.0", inChannels: c, outChannels: c, embDim: tdim, groups: g, rng: &rng),
               AttnBlock(name: "mid.1", channels: c, heads: config.heads, groups: g, rng: &rng),
               ResBlock(name: "mid.2", inChannels: c, outChannels: c, embDim: tdim, groups: g, rng: &rng))
        var up: [Block] = []
        for (i, m) in config.mults.enumerated().reversed() {
            for _ in 0...config.resBlocks {
                let name = "up.\(up.count)"
                let res = ResBlock(name: name + ".0", inChannels: c + chans.removeLast(), outChannels: ch * m,
                                   embDim: tdim, groups: g, rng: &rng)
                let attn = config.attnResolutions.contains(r)
                    ? AttnBlock(name: name + ".1", channels: ch * m, heads: config.heads, groups: g, rng: &rng) : nil
                up.append(.res(res, attn))
                c = ch * m
            }
            if i != 0 {
                up.append(.upsample(Conv2d(name: "up.\(up.count)", inChannels: c, outChannels: c, kernel: 3, padding: 1,
                                           rng: &rng)))
                r *= 2
            }
        }
        self.up = up
        outNorm = GroupNorm(name: "out_n", groups: g, channels: c)
        outConv = Conv2d(name: "out_c", inChannels: c, outChannels: config.outChannels, kernel: 3, padding: 1, rng: &rng)

        var ps = t1.parameters + t2.parameters + cond.parameters + convIn.parameters
        for b in down { ps += UNet.parameters(of: b) }
        ps += mid.0.parameters + mid.1.parameters + mid.2.parameters
        for b in up { ps += UNet.parameters(of: b) }
        ps += outNorm.parameters + outConv.parameters
        parameters = ps
    }

    static func parameters(of block: Block) -> [Parameter] {
        switch block {
        case .res(let r, let a): return r.parameters + (a?.parameters ?? [])
        case .downsample(let c), .upsample(let c): return c.parameters
        }
    }

    /// Sets every parameter from `tensors` (keys = parameter names, with `prefix` prepended); throws an error
    /// naming `source` and the tensor when one is missing or has the wrong shape.
    public func load(_ tensors: [String: Tensor], prefix: String = "", source: String) throws {
        for p in parameters {
            guard let t = tensors[prefix + p.name] else {
                throw SafeTensorsError(source: source, tensor: prefix + p.name, reason: "tensor is missing")
            }
            guard t.shape == p.shape else {
                throw SafeTensorsError(source: source, tensor: prefix + p.name, reason: "shape \(t.shape), expected \(p.shape)")
            }
            p.value = t
        }
    }

    /// Total number of scalar parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Bytes of activations held for a later `backward` by the network and all its layers. A training
    /// `forward` keeps every layer's input (≈ 2.5 GB for the reference UNet at batch 64, 32×32); an
    /// inference forward keeps nothing, so this stays 0 on a network that only ever sampled.
    public var cachedActivationBytes: Int {
        var total = (e1.count + e.count + aOut.count) * MemoryLayout<Float>.size
        total += t1.cachedBytes + t2.cachedBytes + cond.cachedBytes + convIn.cachedBytes
        for block in down + up { total += UNet.cachedBytes(of: block) }
        total += mid.0.cachedBytes + mid.1.cachedBytes + mid.2.cachedBytes
        return total + outNorm.cachedBytes + outConv.cachedBytes
    }

    static func cachedBytes(of block: Block) -> Int {
        switch block {
        case .res(let r, let a): return r.cachedBytes + (a?.cachedBytes ?? 0)
        case .downsample(let c), .upsample(let c): return c.cachedBytes
        }
    }

    /// The network output. A training forward (the default) keeps what `backward` needs; with `inference`
    /// (sampling) nothing is kept — each activation is freed as soon as the next layer has read it, and
    /// the caches of an earlier training forward stay as they were. Both give the same bytes.
    public func forward(_ x: Tensor, t: [Float], cond c: Tensor, inference: Bool = false) -> Tensor {
        let n = x.shape[0]
        precondition(x.rank == 4 && x.shape[1] == config.inChannels && t.count == n && c.shape == [n, config.condDim],
                     "UNet.forward: x \(x.shape), t [\(t.count)], cond \(c.shape) for config \(config)")
        let e1 = t1.forward(TimestepEmbedding.forward(t, dim: config.baseChannels), inference: inference)
        let e = Elementwise.add(t2.forward(silu(e1), inference: inference), cond.forward(c, inference: inference))
        let es = silu(e)

        var h = convIn.forward(x, inference: inference)
        var hs = [h]
        for block in down {
            switch block {
            case .res(let r, let a):
                h = r.forward(h, embSilu: es, inference: inference)
                if let a { h = a.forward(h, inference: inference) }
            case .downsample(let conv), .upsample(let conv):
                h = conv.forward(h, inference: inference)
            }
            hs.append(h)
        }
        let skipCount = hs.count
        h = mid.2.forward(mid.1.forward(mid.0.forward(h, embSilu: es, inference: inference), inference: inference),
                          embSilu: es, inference: inference)
        var upSkips: [(index: Int, hChannels: Int)] = []
        for block in up {
            switch block {
            case .res(let r, let a):
                upSkips.append((hs.count - 1, h.shape[1]))
                h = r.forward(concatChannels(h, hs.removeLast()), embSilu: es, inference: inference)
                if let a { h = a.forward(h, inference: inference) }
            case .upsample(let conv), .downsample(let conv):
                h = conv.forward(upsampleNearest2x(h), inference: inference)
            }
        }
        let aOut = outNorm.forward(h, inference: inference)
        if !inference {
            self.e1 = e1; self.e = e; self.aOut = aOut
            self.skipCount = skipCount; self.upSkips = upSkips
        }
        return outConv.forward(silu(aOut), inference: inference)
    }

    /// Back-propagates ∂L/∂output `[N, outChannels, R, R]` through the last forward pass, accumulating
    /// every parameter gradient.
    public func backward(_ dy: Tensor) {
        var dh = outNorm.backward(siluBackward(x: aOut, dy: outConv.backward(dy)))
        var dSkips = [Tensor?](repeating: nil, count: skipCount)
        var dEs = Tensor(zeros: [e.shape[0], e.shape[1]])
        var skipIndex = upSkips.count
        for block in up.reversed() {
            switch block {
            case .res(let r, let a):
                if let a { dh = a.backward(dh) }
                let (dCat, dEmb) = r.backward(dh)
                Elementwise.addInPlace(&dEs, dEmb)
                skipIndex -= 1
                let (index, hChannels) = upSkips[skipIndex]
                let (dPrev, dSkip) = splitChannels(dCat, first: hChannels)
                dh = dPrev
                if dSkips[index] == nil { dSkips[index] = dSkip } else { Elementwise.addInPlace(&dSkips[index]!, dSkip) }
            case .upsample(let conv), .downsample(let conv):
                dh = upsampleNearest2xBackward(conv.backward(dh))
            }
        }
        let (dm2, de2) = mid.2.backward(dh)
        Elementwise.addInPlace(&dEs, de2)
        let (dm0, de0) = mid.0.backward(mid.1.backward(dm2))
        Elementwise.addInPlace(&dEs, de0)
        dh = dm0
        for (i, block) in down.enumerated().reversed() {
            if let ds = dSkips[i + 1] { Elementwise.addInPlace(&dh, ds) }
            switch block {
            case .res(let r, let a):
                if let a { dh = a.backward(dh) }
                let (dx, dEmb) = r.backward(dh)
                Elementwise.addInPlace(&dEs, dEmb)
                dh = dx
            case .downsample(let conv), .upsample(let conv):
                dh = conv.backward(dh)
            }
        }
        if let ds = dSkips[0] { Elementwise.addInPlace(&dh, ds) }
        _ = convIn.backward(dh)

        let de = siluBackward(x: e, dy: dEs)
        _ = cond.backward(de)
        _ = t1.backward(siluBackward(x: e1, dy: t2.backward(de)))
    }
}
