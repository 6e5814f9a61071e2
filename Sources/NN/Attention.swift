import CKernels
import Tensors

/// Multi-head self-attention over spatial positions — the core of the reference `Attn` block, from the
/// fused qkv projection to the attended values (the GroupNorm, 1×1 convs and residual live in the block).
///
/// Shapes: qkv `[B, 3C, H, W]` read as `[B, 3, heads, d, P]` (d = C/heads, P = H·W), exactly PyTorch's
/// `reshape(B, 3, h, d, H*W).unbind(1)`; output o `[B, C, H, W]` read as `[B, heads, d, P]`.
/// For each (b, head): S = qᵀk/√d `[P, P]`, A = softmax over the last axis, o = v·Aᵀ `[d, P]`.
/// Forward caches qkv (shared storage) and the attention matrices A `[B·heads, P, P]`.
/// All products go through `BLAS.gemm`; softmax rows run in parallel (each row written by one item).
public final class SpatialSelfAttention {
    public let heads: Int
    private var qkv = Tensor(zeros: [0])
    private var probs: [Float] = []    // A, [B·heads, P, P]
    private var scratch: [Float] = []  // dA / dS in backward, same size as A

    public init(heads: Int) {
        precondition(heads > 0, "SpatialSelfAttention: heads must be positive")
        self.heads = heads
    }

    private func geometry(_ x: Tensor) -> (b: Int, c: Int, d: Int, p: Int) {
        precondition(x.rank == 4 && x.shape[1] % (3 * heads) == 0,
                     "SpatialSelfAttention: qkv \(x.shape), expected [B, 3·C, H, W] with C divisible by \(heads)")
        let c = x.shape[1] / 3
        return (x.shape[0], c, c / heads, x.shape[2] * x.shape[3])
    }

    public func forward(_ qkv: Tensor) -> Tensor {
        let g = geometry(qkv)
        self.qkv = qkv
        let items = g.b * heads, pp = g.p * g.p
        if probs.count != items * pp { probs = [Float](repeating: 0, count: items * pp) }
        var out = Tensor(zeros: [g.b, g.c, qkv.shape[2], qkv.shape[3]])
        let scale = 1 / Float(g.d).squareRoot()
        qkv.withUnsafeBufferPointer { qb in
        out.withUnsafeMutableBufferPointer { ob in
        probs.withUnsafeMutableBufferPointer { ab in
            let base = qb.baseAddress!, op = ob.baseAddress!, ap = ab.baseAddress!
            for it in 0..<items {
                let (q, k, _) = pointers(base, item: it, g)
                BLAS.gemm(transA: true, m: g.p, n: g.p, k: g.d, alpha: scale, a: q, b: k, c: ap + it * pp)
            }
            SpatialSelfAttention.softmaxRows(ap, rows: items * g.p, width: g.p)
            for it in 0..<items {
                let (_, _, v) = pointers(base, item: it, g)
                let o = op + ((it / heads) * g.c + (it % heads) * g.d) * g.p
                BLAS.gemm(transB: true, m: g.d, n: g.p, k: g.p, a: v, b: ap + it * pp, c: o)
            }
        }}}
        return out
    }

    /// ∂L/∂qkv `[B, 3C, H, W]` for ∂L/∂o `[B, C, H, W]`.
    public func backward(_ dOut: Tensor) -> Tensor {
        let g = geometry(qkv)
        precondition(dOut.shape == [g.b, g.c, qkv.shape[2], qkv.shape[3]], "SpatialSelfAttention.backward: \(dOut.shape)")
        let items = g.b * heads, pp = g.p * g.p
        if scratch.count != items * pp { scratch = [Float](repeating: 0, count: items * pp) }
        var dqkv = Tensor(zeros: qkv.shape)
        let scale = 1 / Float(g.d).squareRoot()
        qkv.withUnsafeBufferPointer { qb in
        dOut.withUnsafeBufferPointer { db in
        dqkv.withUnsafeMutableBufferPointer { gb in
        probs.withUnsafeBufferPointer { ab in
        scratch.withUnsafeMutableBufferPointer { sb in
            let base = qb.baseAddress!, dbase = gb.baseAddress!, ap = ab.baseAddress!, sp = sb.baseAddress!
            for it in 0..<items {
                let (_, _, v) = pointers(base, item: it, g)
                let (_, _, dv) = pointers(UnsafePointer(dbase), item: it, g)
                let dO = db.baseAddress! + ((it / heads) * g.c + (it % heads) * g.d) * g.p
                // dA[i, j] = Σ_d dO[d, i]·v[d, j];  dv[d, j] = Σ_i dO[d, i]·A[i, j]
                BLAS.gemm(transA: true, m: g.p, n: g.p, k: g.d, a: dO, b: v, c: sp + it * pp)
                BLAS.gemm(m: g.d, n: g.p, k: g.p, a: dO, b: ap + it * pp, c: UnsafeMutablePointer(mutating: dv))
            }
            // dS = A ⊙ (dA − Σ_j dA·A), row by row.
            let width = g.p
            Parallel.chunks(items * g.p, minWork: 64) { rows in
                fg_softmax_backward_rows(ap + rows.lowerBound &* width, sp + rows.lowerBound &* width, rows.count, width)
            }
            for it in 0..<items {
                let (q, k, _) = pointers(base, item: it, g)
                let (dq, dk, _) = pointers(UnsafePointer(dbase), item: it, g)
                // dq[d, i] = scale·Σ_j k[d, j]·dS[i, j];  dk[d, j] = scale·Σ_i q[d, i]·dS[i, j]
                BLAS.gemm(transB: true, m: g.d, n: g.p, k: g.p, alpha: scale, a: k, b: sp + it * pp,
                          c: UnsafeMutablePointer(mutating: dq))
                BLAS.gemm(m: g.d, n: g.p, k: g.p, alpha: scale, a: q, b: sp + it * pp,
                          c: UnsafeMutablePointer(mutating: dk))
            }
        }}}}}
        return dqkv
    }

    /// q, k, v `[d, P]` blocks of (batch, head) item `it` inside a `[B, 3C, P]` buffer.
    private func pointers(_ base: UnsafePointer<Float>, item it: Int, _ g: (b: Int, c: Int, d: Int, p: Int))
        -> (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) {
        let b = it / heads, h = it % heads
        let q = base + (b * 3 * g.c + h * g.d) * g.p
        return (q, q + g.c * g.p, q + 2 * g.c * g.p)
    }

    /// In-place numerically stable softmax of `rows` rows of `width` values, parallel over rows.
    static func softmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        Parallel.chunks(rows, minWork: 64) { range in
            fg_softmax_rows(p + range.lowerBound &* width, range.count, width)
        }
    }
}
