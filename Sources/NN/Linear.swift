import Tensors

/// Fully connected layer y = x·Wᵀ + b.
///
/// Shapes: x `[N, in]` → y `[N, out]`; weight `[out, in]` (PyTorch layout), bias `[out]`.
/// Forward caches `x` (shared storage, no copy) for the weight gradient. Rows are split over batch
/// `Shards` (single-threaded sgemm per shard; gradient partial sums added in shard order).
public final class Linear {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// Parameters in PyTorch `named_parameters()` order.
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    private var input = Tensor(zeros: [0])

    /// Weights and bias ~ U(−1/√in, 1/√in) (PyTorch's default init).
    public init(name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true, rng: inout RNG) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear \(name): bad configuration")
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        var w = Tensor(zeros: [outFeatures, inFeatures])
        w.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -bound, high: bound) }
        self.weight = Parameter(name: name + ".weight", value: w)
        if bias {
            var b = Tensor(zeros: [outFeatures])
            b.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -bound, high: bound) }
            self.bias = Parameter(name: name + ".bias", value: b)
        } else {
            self.bias = nil
        }
    }

    /// Bytes this layer holds for a later `backward` (the cached input; 0 after an inference forward).
    public var cachedBytes: Int { input.count * MemoryLayout<Float>.size }

    /// y = x·Wᵀ + b, rows split over batch `Shards`. With `inference` the input is not kept for a backward.
    public func forward(_ x: Tensor, inference: Bool = false) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == inFeatures, "Linear: input \(x.shape), expected [N, \(inFeatures)]")
        if !inference { input = x }
        let n = x.shape[0], fin = inFeatures, fout = outFeatures
        var y = Tensor(zeros: [n, fout])
        let biasValues = bias?.value.data
        x.withUnsafeBufferPointer { xb in
        weight.value.withUnsafeBufferPointer { wb in
        y.withUnsafeMutableBufferPointer { yb in
            let xp = xb.baseAddress!, wp = wb.baseAddress!, yp = yb.baseAddress!
            Shards.run(batch: n, work: n * fin * fout) { _, rows in
                let out = yp + rows.lowerBound * fout
                if let biasValues {
                    for i in 0..<rows.count { for o in 0..<fout { out[i &* fout &+ o] = biasValues[o] } }
                }
                BLAS.gemm(transB: true, m: rows.count, n: fout, k: fin, a: xp + rows.lowerBound * fin, b: wp,
                          beta: 1, c: out)
            }
        }}}
        return y
    }

    /// ∂L/∂x; accumulates ∂L/∂weight (dyᵀ·x) and ∂L/∂bias (column sums of dy). Each batch shard sums its
    /// rows on its own; the shard sums are added to `grad` in shard order.
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input, n = x.shape[0], fin = inFeatures, fout = outFeatures
        precondition(dy.shape == [n, fout], "Linear.backward: dy \(dy.shape), expected [\(n), \(fout)]")
        var dx = Tensor(zeros: x.shape)
        let shardCount = Shards.count(batch: n)
        var dbias = [Double](repeating: 0, count: shardCount * fout)
        let ws = Workspace.current
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        weight.value.withUnsafeBufferPointer { wb in
        dx.withUnsafeMutableBufferPointer { dxb in
        dbias.withUnsafeMutableBufferPointer { dbb in
            let xp = xb.baseAddress!, dyp = dyb.baseAddress!, wp = wb.baseAddress!, dxp = dxb.baseAddress!
            let dbp = dbb.baseAddress!
            Shards.run(batch: n, work: 2 * n * fin * fout) { shard, rows in
                let dyr = dyp + rows.lowerBound * fout
                BLAS.gemm(transA: true, m: fout, n: fin, k: rows.count, a: dyr, b: xp + rows.lowerBound * fin,
                          c: ws.buffer(.weightGrad, shard: shard, count: fout * fin))
                BLAS.gemm(m: rows.count, n: fin, k: fout, a: dyr, b: wp, c: dxp + rows.lowerBound * fin)
                let db = dbp + shard * fout
                for i in 0..<rows.count { for o in 0..<fout { db[o] += Double(dyr[i &* fout &+ o]) } }
            }
        }}}}}
        weight.grad.withUnsafeMutableBufferPointer { gb in
            let gp = gb.baseAddress!
            for s in 0..<shardCount {
                let dw = UnsafePointer(ws.buffer(.weightGrad, shard: s, count: fout * fin))
                for i in 0..<(fout * fin) { gp[i] += dw[i] }
            }
        }
        if let bias {
            for o in 0..<fout {
                var sum = 0.0
                for s in 0..<shardCount { sum += dbias[s * fout + o] }
                bias.grad.data[o] += Float(sum)
            }
        }
        return dx
    }
}
