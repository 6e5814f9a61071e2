import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// SiLU (swish): y = x·σ(x). Stateless, so a pair of free functions; the caller keeps `x` for backward.
/// Shapes: any; output has the input's shape.
public func silu(_ x: Tensor) -> Tensor {
    var y = Tensor(zeros: x.shape)
    let n = x.count
    x.withUnsafeBufferPointer { xb in
    y.withUnsafeMutableBufferPointer { yb in
        let xp = xb.baseAddress!, yp = yb.baseAddress!
        Parallel.chunks(n, minWork: 16_384) { r in
            for i in r { let v = xp[i]; yp[i] = v / (1 + expf(-v)) }
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
        let xp = xb.baseAddress!, dp = db.baseAddress!, op = ob.baseAddress!
        Parallel.chunks(n, minWork: 16_384) { r in
            for i in r {
                let v = xp[i]
                let sg = 1 / (1 + expf(-v))
                op[i] = dp[i] * sg * (1 + v * (1 - sg))
            }
        }
    }}}
    return dx
}
