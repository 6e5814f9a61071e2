import NN
import Tensors

/// The reference UNet's residual block with timestep/condition injection:
///   h = c1(SiLU(n1(x))) + t(SiLU(emb))[:, :, None, None];  out = skip(x) + c2(SiLU(n2(h)))
/// skip is a 1×1 conv when Cin ≠ Cout, identity otherwise (dropout 0).
///
/// Shapes: x `[N, Cin, H, W]`, embSilu = SiLU(emb) `[N, E]` (computed once by the UNet for all blocks)
/// → out `[N, Cout, H, W]`. Caches the pre-activation GroupNorm outputs a1, a2 for the SiLU backwards.
public final class ResBlock {
    public let n1: GroupNorm, c1: Conv2d, t: Linear, n2: GroupNorm, c2: Conv2d
    public let skip: Conv2d?
    /// Parameters in PyTorch `named_parameters()` order (n1, c1, t, n2, c2, skip).
    public var parameters: [Parameter] {
        n1.parameters + c1.parameters + t.parameters + n2.parameters + c2.parameters + (skip?.parameters ?? [])
    }

    private var a1 = Tensor(zeros: [0]), a2 = Tensor(zeros: [0])

    public init(name: String, inChannels ci: Int, outChannels co: Int, embDim: Int, groups: Int = 32, rng: inout RNG) {
        n1 = GroupNorm(name: name + ".n1", groups: groups, channels: ci)
        c1 = Conv2d(name: name + ".c1", inChannels: ci, outChannels: co, kernel: 3, padding: 1, rng: &rng)
        t = Linear(name: name + ".t", inFeatures: embDim, outFeatures: co, rng: &rng)
        n2 = GroupNorm(name: name + ".n2", groups: groups, channels: co)
        c2 = Conv2d(name: name + ".c2", inChannels: co, outChannels: co, kernel: 3, padding: 1, rng: &rng)
        skip = ci != co ? Conv2d(name: name + ".skip", inChannels: ci, outChannels: co, kernel: 1, rng: &rng) : nil
    }

    /// Bytes held for a later `backward` by this block and its layers (0 after an inference forward).
    public var cachedBytes: Int {
        (a1.count + a2.count) * MemoryLayout<Float>.size + n1.cachedBytes + c1.cachedBytes + t.cachedBytes
            + n2.cachedBytes + c2.cachedBytes + (skip?.cachedBytes ?? 0)
    }

    /// With `inference` nothing is kept for a backward (earlier training caches stay as they were).
    public func forward(_ x: Tensor, embSilu: Tensor, inference: Bool = false) -> Tensor {
        let a1 = n1.forward(x, inference: inference)
        var h = c1.forward(silu(a1), inference: inference)
        let proj = t.forward(embSilu, inference: inference)
        let n = h.shape[0], co = h.shape[1], hw = h.shape[2] * h.shape[3]
        h.withUnsafeMutableBufferPointer { hb in
            let hp = hb.baseAddress!
            Parallel.forEach(n * co, work: n * co * hw, minWork: 65_536) { nc in
                let v = proj.data[nc], row = hp + nc &* hw
                for i in 0..<hw { row[i] += v }
            }
        }
        let a2 = n2.forward(h, inference: inference)
        if !inference { self.a1 = a1; self.a2 = a2 }
        var out = c2.forward(silu(a2), inference: inference)
        Elementwise.addInPlace(&out, skip?.forward(x, inference: inference) ?? x)
        return out
    }

    /// Returns (∂L/∂x, ∂L/∂embSilu); accumulates every parameter gradient.
    public func backward(_ dOut: Tensor) -> (dx: Tensor, dEmbSilu: Tensor) {
        let dh = n2.backward(siluBackward(x: a2, dy: c2.backward(dOut)))
        // The per-(n, c) bias added from the embedding receives the spatial sum of dh.
        let n = dh.shape[0], co = dh.shape[1], hw = dh.shape[2] * dh.shape[3]
        var dProj = Tensor(zeros: [n, co])
        dh.withUnsafeBufferPointer { db in
            for nc in 0..<(n * co) {
                var s = 0.0
                let row = db.baseAddress! + nc * hw
                for i in 0..<hw { s += Double(row[i]) }
                dProj.data[nc] = Float(s)
            }
        }
        let dEmb = t.backward(dProj)
        var dx = n1.backward(siluBackward(x: a1, dy: c1.backward(dh)))
        Elementwise.addInPlace(&dx, skip?.backward(dOut) ?? dOut)
        return (dx, dEmb)
    }
}
