import CKernels
import NN
import Tensors

/// The reference UNet's residual block with timestep/condition injection:
///   h = c1(SiLU(n1(x))) + t(SiLU(emb))[:, :, None, None];  out = skip(x) + c2(SiLU(n2(h)))
/// skip is a 1×1 conv when Cin ≠ Cout, identity otherwise (dropout 0).
///
/// Shapes: x `[N, Cin, H, W]`, embSilu = SiLU(emb) `[N, E]` (computed once by the UNet for all blocks)
/// → out `[N, Cout, H, W]`. Both GroupNorm+SiLU pairs run fused (`GroupNorm.forward(_:silu:)`), so no
/// pre-activation tensor is kept: the backward recomputes it from the GroupNorm's input.
public final class ResBlock {
    public let n1: GroupNorm, c1: Conv2d, t: Linear, n2: GroupNorm, c2: Conv2d
    public let skip: Conv2d?
    /// Parameters in PyTorch `named_parameters()` order (n1, c1, t, n2, c2, skip).
    public var parameters: [Parameter] {
        n1.parameters + c1.parameters + t.parameters + n2.parameters + c2.parameters + (skip?.parameters ?? [])
    }

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
        n1.cachedBytes + c1.cachedBytes + t.cachedBytes + n2.cachedBytes + c2.cachedBytes + (skip?.cachedBytes ?? 0)
    }

    /// With `inference` nothing is kept for a backward (earlier training caches stay as they were).
    public func forward(_ x: Tensor, embSilu: Tensor, inference: Bool = false) -> Tensor {
        var h = c1.forward(n1.forward(x, silu: true, inference: inference), inference: inference)
        let proj = t.forward(embSilu, inference: inference)
        let n = h.shape[0], co = h.shape[1], hw = h.shape[2] * h.shape[3]
        h.withUnsafeMutableBufferPointer { hb in
            let hp = hb.baseAddress!
            Parallel.forEach(n * co, work: n * co * hw, minWork: 65_536) { nc in
                let row = hp + nc &* hw
                fg_add_scalar(row, row, hw, proj.data[nc])
            }
        }
        var out = c2.forward(n2.forward(h, silu: true, inference: inference), inference: inference)
        Elementwise.addInPlace(&out, skip?.forward(x, inference: inference) ?? x)
        return out
    }

    /// Returns (∂L/∂x, ∂L/∂embSilu); accumulates every parameter gradient.
    public func backward(_ dOut: Tensor) -> (dx: Tensor, dEmbSilu: Tensor) {
        let dh = n2.backward(c2.backward(dOut))
        // The per-(n, c) bias added from the embedding receives the spatial sum of dh.
        let n = dh.shape[0], co = dh.shape[1], hw = dh.shape[2] * dh.shape[3]
        var dProj = Tensor(zeros: [n, co])
        dh.withUnsafeBufferPointer { db in
        dProj.withUnsafeMutableBufferPointer { pb in
            let dp = db.baseAddress!, pp = pb.baseAddress!
            Parallel.forEach(n * co, work: n * co * hw, minWork: 65_536) { nc in
                pp[nc] = Float(fg_sum(dp + nc &* hw, hw))
            }
        }}
        let dEmb = t.backward(dProj)
        var dx = n1.backward(c1.backward(dh))
        Elementwise.addInPlace(&dx, skip?.backward(dOut) ?? dOut)
        return (dx, dEmb)
    }
}
