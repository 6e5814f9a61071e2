import CKernels
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// Multi-head self-attention over spatial positions — the core of the reference `Attn` block, from the
/// fused qkv projection to the attended values (the GroupNorm, 1×1 convs and residual live in the block).
///
/// Shapes: qkv `[B, 3C, H, W]` read as `[B, 3, heads, d, P]` (d = C/heads, P = H·W), exactly PyTorch's
/// `reshape(B, 3, h, d, H*W).unbind(1)`; output o `[B, C, H, W]` read as `[B, heads, d, P]`.
/// For each (b, head): S = qᵀk/√d `[P, P]`, A = softmax over the last axis, o = v·Aᵀ `[d, P]`.
/// Forward caches qkv (shared storage) and the attention matrices A `[B·heads, P, P]` (not with `inference`).
/// The batch is split into `Shards` that run concurrently; each shard loops over its (sample, head) items,
/// doing both products and the softmax of one item back to back on one thread (single-threaded sgemm),
/// instead of one multi-threaded call per tiny product. Backward needs one P×P scratch per shard.
public final class SpatialSelfAttention {
    public let heads: Int
    private var qkv = Tensor(zeros: [0])
    private var probs: [Float] = []    // A, [B·heads, P, P]

    public init(heads: Int) {
        precondition(heads > 0, "SpatialSelfAttention: heads must be positive")
        self.heads = heads
    }

    /// Bytes this layer holds for a later `backward` (qkv and A; 0 after an inference forward).
    public var cachedBytes: Int { (qkv.count + probs.count) * MemoryLayout<Float>.size }

    private func geometry(_ x: Tensor) -> (b: Int, c: Int, d: Int, p: Int) {
        precondition(x.rank == 4 && x.shape[1] % (3 * heads) == 0,
                     "SpatialSelfAttention: qkv \(x.shape), expected [B, 3·C, H, W] with C divisible by \(heads)")
        let c = x.shape[1] / 3
        return (x.shape[0], c, c / heads, x.shape[2] * x.shape[3])
    }

    /// o = attention(qkv). With `inference`, nothing is kept for a backward: each (sample, head)'s A lives
    /// in a per-shard workspace buffer only while its two products run.
    public func forward(_ qkv: Tensor, inference: Bool = false) -> Tensor {
        let g = geometry(qkv)
        let pp = g.p * g.p
        if !inference {
            self.qkv = qkv
            if probs.count != g.b * heads * pp { probs = [Float](repeating: 0, count: g.b * heads * pp) }
        }
        var out = Tensor(zeros: [g.b, g.c, qkv.shape[2], qkv.shape[3]])
        let scale = 1 / Float(g.d).squareRoot()
        let ws = Workspace.current
        qkv.withUnsafeBufferPointer { qb in
        out.withUnsafeMutableBufferPointer { ob in
        probs.withUnsafeMutableBufferPointer { ab in
            let base = qb.baseAddress!, op = ob.baseAddress!, cache = ab.baseAddress
            // Shards of samples; within a shard one loop over its (sample, head) items, each with its
            // two products on this thread.
            Shards.run(batch: g.b, work: 4 * g.b * g.c * pp) { shard, samples in
                let scratch = inference ? ws.buffer(.scores, shard: shard, count: pp) : nil
                for it in (samples.lowerBound * heads)..<(samples.upperBound * heads) {
                    let (q, k, v) = pointers(base, item: it, g)
                    let a = scratch ?? cache! + it * pp
                    BLAS.gemm(transA: true, m: g.p, n: g.p, k: g.d, alpha: scale, a: q, b: k, c: a)
                    SpatialSelfAttention.softmaxRows(a, rows: g.p, width: g.p)
                    let o = op + ((it / heads) * g.c + (it % heads) * g.d) * g.p
                    BLAS.gemm(transB: true, m: g.d, n: g.p, k: g.p, a: v, b: a, c: o)
                }
            }
        }}}
        return out
    }

    /// ∂L/∂qkv `[B, 3C, H, W]` for ∂L/∂o `[B, C, H, W]`.
    public func backward(_ dOut: Tensor) -> Tensor {
        let g = geometry(qkv)
        precondition(dOut.shape == [g.b, g.c, qkv.shape[2], qkv.shape[3]], "SpatialSelfAttention.backward: \(dOut.shape)")
        let pp = g.p * g.p
        var dqkv = Tensor(zeros: qkv.shape)
        let scale = 1 / Float(g.d).squareRoot()
        let ws = Workspace.current
        qkv.withUnsafeBufferPointer { qb in
        dOut.withUnsafeBufferPointer { db in
        dqkv.withUnsafeMutableBufferPointer { gb in
        probs.withUnsafeBufferPointer { ab in
            let base = qb.baseAddress!, dbase = gb.baseAddress!, ap = ab.baseAddress!
            Shards.run(batch: g.b, work: 8 * g.b * g.c * pp) { shard, samples in
                // dA / dS of one (sample, head) at a time.
                let sp = ws.buffer(.scoresGrad, shard: shard, count: pp)
                for it in (samples.lowerBound * heads)..<(samples.upperBound * heads) {
                    let (q, k, v) = pointers(base, item: it, g)
                    let (dq, dk, dv) = pointers(UnsafePointer(dbase), item: it, g)
                    let a = ap + it * pp
                    let dO = db.baseAddress! + ((it / heads) * g.c + (it % heads) * g.d) * g.p
                    // dA[i, j] = Σ_d dO[d, i]·v[d, j];  dv[d, j] = Σ_i dO[d, i]·A[i, j]
                    BLAS.gemm(transA: true, m: g.p, n: g.p, k: g.d, a: dO, b: v, c: sp)
                    BLAS.gemm(m: g.d, n: g.p, k: g.p, a: dO, b: a, c: UnsafeMutablePointer(mutating: dv))
                    // dS = A ⊙ (dA − Σ_j dA·A), row by row.
                    fg_softmax_backward_rows(a, sp, g.p, g.p)
                    // dq[d, i] = scale·Σ_j k[d, j]·dS[i, j];  dk[d, j] = scale·Σ_i q[d, i]·dS[i, j]
                    BLAS.gemm(transB: true, m: g.d, n: g.p, k: g.p, alpha: scale, a: k, b: sp,
                              c: UnsafeMutablePointer(mutating: dq))
                    BLAS.gemm(m: g.d, n: g.p, k: g.p, alpha: scale, a: q, b: sp,
                              c: UnsafeMutablePointer(mutating: dk))
                }
            }
        }}}}
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
