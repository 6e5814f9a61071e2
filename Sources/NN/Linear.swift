import Tensors

/// Fully connected layer y = x·Wᵀ + b.
///
/// Shapes: x `[N, in]` → y `[N, out]`; weight `[out, in]` (PyTorch layout), bias `[out]`.
/// Forward caches `x` (shared storage, no copy) for the weight gradient.
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

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == inFeatures, "Linear: input \(x.shape), expected [N, \(inFeatures)]")
        input = x
        let n = x.shape[0]
        var y = Tensor(zeros: [n, outFeatures])
        if let bias {
            for i in 0..<n { for o in 0..<outFeatures { y.data[i * outFeatures + o] = bias.value.data[o] } }
        }
        x.withUnsafeBufferPointer { xb in
        weight.value.withUnsafeBufferPointer { wb in
        y.withUnsafeMutableBufferPointer { yb in
            BLAS.gemm(transB: true, m: n, n: outFeatures, k: inFeatures, a: xb.baseAddress!, b: wb.baseAddress!,
                      beta: 1, c: yb.baseAddress!)
        }}}
        return y
    }

    /// ∂L/∂x; accumulates ∂L/∂weight (dyᵀ·x) and ∂L/∂bias (column sums of dy).
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input, n = x.shape[0]
        precondition(dy.shape == [n, outFeatures], "Linear.backward: dy \(dy.shape), expected [\(n), \(outFeatures)]")
        var dx = Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        weight.value.withUnsafeBufferPointer { wb in
        weight.grad.withUnsafeMutableBufferPointer { dwb in
        dx.withUnsafeMutableBufferPointer { dxb in
            BLAS.gemm(transA: true, m: outFeatures, n: inFeatures, k: n, a: dyb.baseAddress!, b: xb.baseAddress!,
                      beta: 1, c: dwb.baseAddress!)
            BLAS.gemm(m: n, n: inFeatures, k: outFeatures, a: dyb.baseAddress!, b: wb.baseAddress!, c: dxb.baseAddress!)
        }}}}}
        if let bias {
            for o in 0..<outFeatures {
                var s = 0.0
                for i in 0..<n { s += Double(dy.data[i * outFeatures + o]) }
                bias.grad.data[o] += Float(s)
            }
        }
        return dx
    }
}
