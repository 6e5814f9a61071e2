import Tensors

/// Channel concatenation `torch.cat([a, b], dim=1)` and its backward (a split).
/// Shapes: a `[N, Ca, …]`, b `[N, Cb, …]` with equal trailing extents → `[N, Ca+Cb, …]`.
public func concatChannels(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 2 && a.rank == b.rank && a.shape[0] == b.shape[0]
                 && Array(a.shape.dropFirst(2)) == Array(b.shape.dropFirst(2)),
                 "concatChannels: \(a.shape) and \(b.shape)")
    let n = a.shape[0]
    let sa = a.count / n, sb = b.count / n
    var shape = a.shape
    shape[1] = a.shape[1] + b.shape[1]
    var y = Tensor(zeros: shape)
    let total = y.count
    a.withUnsafeBufferPointer { ab in
    b.withUnsafeBufferPointer { bb in
    y.withUnsafeMutableBufferPointer { yb in
        let ap = ab.baseAddress!, bp = bb.baseAddress!, yp = yb.baseAddress!
        Parallel.forEach(n, work: total, minWork: 65_536) { i in
            (yp + i &* (sa &+ sb)).update(from: ap + i &* sa, count: sa)
            (yp + (i &* (sa &+ sb) &+ sa)).update(from: bp + i &* sb, count: sb)
        }
    }}}
    return y
}

/// Backward of `concatChannels`: splits dy `[N, Ca+Cb, …]` into (∂L/∂a `[N, Ca, …]`, ∂L/∂b).
public func splitChannels(_ dy: Tensor, first ca: Int) -> (Tensor, Tensor) {
    precondition(dy.rank >= 2 && ca > 0 && ca < dy.shape[1], "splitChannels: \(dy.shape) at \(ca)")
    let n = dy.shape[0], spatial = dy.count / (n * dy.shape[1])
    let sa = ca * spatial, sb = (dy.shape[1] - ca) * spatial
    var shapeA = dy.shape, shapeB = dy.shape
    shapeA[1] = ca; shapeB[1] = dy.shape[1] - ca
    var a = Tensor(zeros: shapeA), b = Tensor(zeros: shapeB)
    dy.withUnsafeBufferPointer { db in
    a.withUnsafeMutableBufferPointer { ab in
    b.withUnsafeMutableBufferPointer { bb in
        let dp = db.baseAddress!, ap = ab.baseAddress!, bp = bb.baseAddress!
        Parallel.forEach(n, work: dy.count, minWork: 65_536) { i in
            (ap + i &* sa).update(from: dp + i &* (sa &+ sb), count: sa)
            (bp + i &* sb).update(from: dp + (i &* (sa &+ sb) &+ sa), count: sb)
        }
    }}}
    return (a, b)
}
