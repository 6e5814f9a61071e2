import Tensors

/// Nearest-neighbour ×2 upsampling (`F.interpolate(scale_factor=2, mode="nearest")`) and its backward.
/// Shapes: x `[N, C, H, W]` → y `[N, C, 2H, 2W]`, y[…, i, j] = x[…, i/2, j/2].
public func upsampleNearest2x(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "upsampleNearest2x: input \(x.shape), expected [N, C, H, W]")
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    var y = Tensor(zeros: [x.shape[0], x.shape[1], 2 * h, 2 * w])
    let total = y.count
    x.withUnsafeBufferPointer { xb in
    y.withUnsafeMutableBufferPointer { yb in
        let xp = xb.baseAddress!, yp = yb.baseAddress!
        Parallel.forEach(planes, work: total, minWork: 65_536) { pl in
            let src = xp + pl &* h &* w, dst = yp + pl &* 4 &* h &* w
            for i in 0..<h {
                let row = dst + 2 &* i &* 2 &* w, s = src + i &* w
                for j in 0..<w { row[2 &* j] = s[j]; row[2 &* j &+ 1] = s[j] }
                (row + 2 &* w).update(from: row, count: 2 &* w)
            }
        }
    }}
    return y
}

/// ∂L/∂x of `upsampleNearest2x`: each input pixel receives the sum of its 2×2 output block.
public func upsampleNearest2xBackward(_ dy: Tensor) -> Tensor {
    precondition(dy.rank == 4 && dy.shape[2] % 2 == 0 && dy.shape[3] % 2 == 0,
                 "upsampleNearest2xBackward: dy \(dy.shape)")
    let planes = dy.shape[0] * dy.shape[1], h = dy.shape[2] / 2, w = dy.shape[3] / 2
    var dx = Tensor(zeros: [dy.shape[0], dy.shape[1], h, w])
    dy.withUnsafeBufferPointer { db in
    dx.withUnsafeMutableBufferPointer { xb in
        let dp = db.baseAddress!, xp = xb.baseAddress!
        Parallel.forEach(planes, work: dy.count, minWork: 65_536) { pl in
            let src = dp + pl &* 4 &* h &* w, dst = xp + pl &* h &* w
            for i in 0..<h {
                let r0 = src + 2 &* i &* 2 &* w, r1 = r0 + 2 &* w, o = dst + i &* w
                for j in 0..<w { o[j] = (r0[2 &* j] + r0[2 &* j &+ 1]) + (r1[2 &* j] + r1[2 &* j &+ 1]) }
            }
        }
    }}
    return dx
}
