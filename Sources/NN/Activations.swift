import CKernels
import Tensors

/// SiLU (swish): y = x·σ(x). Stateless, so a pair of free functions; the caller keeps `x` for backward.
/// Shapes: any; output has the input's shape. The element loops are the vectorised kernels of `CKernels`
/// (`fg_silu`, `fg_silu_backward`), whose exp is a polynomial within 1e-7 relative of libm's.
/// `GroupNorm.forward(_:silu:)` fuses SiLU into the normalisation when it follows a GroupNorm.
public func silu(_ x: Tensor) -> Tensor {
    var y = Tensor(zeros: x.shape)
    let n = x.count
    x.withUnsafeBufferPointer { xb in
    y.withUnsafeMutableBufferPointer { yb in
        guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
        Parallel.chunks(n, minWork: 16_384) { r in
            fg_silu(xp + r.lowerBound, yp + r.lowerBound, r.count)
        }
    }}
    return y
}

/// ∂L/∂x of SiLU at `x`: dy · σ(x)·(1 + x·(1 − σ(x))).
public func siluBackward(x: Tensor, dy: Tensor) -> Tensor {
    precondition(x.shape == dy.shape, "siluBackward: x \(x.shape) vs dy \(dy.shape)")
    var dx = Tensor(zeros: x.shape)
    let n = x.count
    x.withUnsafeBufferPointer { xb in
    dy.withUnsafeBufferPointer { db in
    dx.withUnsafeMutableBufferPointer { ob in
        guard let xp = xb.baseAddress, let dp = db.baseAddress, let op = ob.baseAddress else { return }
        Parallel.chunks(n, minWork: 16_384) { r in
            fg_silu_backward(xp + r.lowerBound, dp + r.lowerBound, op + r.lowerBound, r.count)
        }
    }}}
    return dx
}
