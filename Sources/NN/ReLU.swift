import Tensors

/// Rectified linear unit y = max(x, 0), any shape.
///
/// Forward caches the output y (shared storage, no copy): y > 0 exactly where x > 0, so the output alone
/// gives the backward mask. Backward: dx = dy where y > 0, else 0 (PyTorch's convention at x = 0).
public final class ReLU {
    private var output = Tensor(zeros: [0])

    public init() {}

    /// max(x, 0); caches the output.
    public func forward(_ x: Tensor) -> Tensor {
        output = relu(x)
        return output
    }

    /// dy masked by the last output's sign.
    public func backward(_ dy: Tensor) -> Tensor {
        reluBackward(output: output, dy: dy)
    }
}

/// max(x, 0) element-wise.
public func relu(_ x: Tensor) -> Tensor {
    var y = x
    reluInPlace(&y)
    return y
}

/// x ← max(x, 0) element-wise (no allocation when `x` is uniquely referenced).
public func reluInPlace(_ x: inout Tensor) {
    x.withUnsafeMutableBufferPointer { b in
        let p = b.baseAddress!
        Parallel.chunks(b.count, minWork: 65_536) { r in
            for i in r { let v = p[i]; p[i] = v > 0 ? v : 0 }
        }
    }
}

/// ∂L/∂x of a ReLU given its output y and ∂L/∂y: dy where y > 0, else 0.
public func reluBackward(output y: Tensor, dy: Tensor) -> Tensor {
    precondition(y.shape == dy.shape, "reluBackward: output \(y.shape) vs dy \(dy.shape)")
    var dx = Tensor(zeros: dy.shape)
    y.withUnsafeBufferPointer { yb in
    dy.withUnsafeBufferPointer { gb in
    dx.withUnsafeMutableBufferPointer { db in
        let yp = yb.baseAddress!, gp = gb.baseAddress!, dp = db.baseAddress!
        Parallel.chunks(db.count, minWork: 65_536) { r in
            ChannelKernels.mask(gp + r.lowerBound, by: yp + r.lowerBound, into: dp + r.lowerBound, r.count)
        }
    }}}
    return dx
}

/// Residual join fused with its activation: a ← max(a + b, 0) (a residual block's output). The backward is
/// `reluBackward(output: a, dy:)`, whose result is the gradient of both summands.
public func addReLU(into a: inout Tensor, _ b: Tensor) {
    precondition(a.shape == b.shape, "addReLU: \(a.shape) vs \(b.shape)")
    b.withUnsafeBufferPointer { bb in
    a.withUnsafeMutableBufferPointer { ab in
        let ap = ab.baseAddress!, bp = bb.baseAddress!
        Parallel.chunks(ab.count, minWork: 65_536) { r in
            for i in r { let v = ap[i] + bp[i]; ap[i] = v > 0 ? v : 0 }
        }
    }}
}
