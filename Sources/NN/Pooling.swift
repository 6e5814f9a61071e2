import Tensors

/// Average pooling with a k×k window and stride k (no padding), NCHW, as `F.avg_pool2d(x, k)`.
///
/// Shapes: x `[N, C, H, W]` → y `[N, C, H/k, W/k]` (floor; trailing rows/columns that do not fill a window
/// are ignored, as PyTorch). Caches only the input shape. Backward spreads dy/k² over each window.
public final class AvgPool2d {
    public let kernel: Int
    private var inputShape: [Int] = []

    public init(kernel: Int) {
        precondition(kernel > 0, "AvgPool2d: kernel must be positive")
        self.kernel = kernel
    }

    /// Pools `x`; caches what `backward` needs.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[2] >= kernel && x.shape[3] >= kernel,
                     "AvgPool2d: input \(x.shape) too small for kernel \(kernel)")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], k = kernel
        let ho = h / k, wo = w / k
        var y = Tensor(zeros: [x.shape[0], x.shape[1], ho, wo])
        let inv = 1 / Float(k * k)
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            Parallel.forEach(planes, work: x.count) { p in
                let src = xp + p &* h &* w, dst = yp + p &* ho &* wo
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var s: Float = 0
                        for dy in 0..<k {
                            let r: Int = (oy &* k &+ dy) &* w &+ ox &* k
                            let row = src + r
                            for dx in 0..<k { s += row[dx] }
                        }
                        dst[oy &* wo &+ ox] = s * inv
                    }
                }
            }
        }}
        return y
    }

    /// ∂L/∂x for the last forward's input.
    public func backward(_ dy: Tensor) -> Tensor {
        let s = inputShape, k = kernel
        let planes = s[0] * s[1], h = s[2], w = s[3], ho = h / k, wo = w / k
        precondition(dy.shape == [s[0], s[1], ho, wo], "AvgPool2d.backward: dy \(dy.shape)")
        var dx = Tensor(zeros: s)
        let total = dx.count
        let inv = 1 / Float(k * k)
        dy.withUnsafeBufferPointer { gb in
        dx.withUnsafeMutableBufferPointer { db in
            let gp = gb.baseAddress!, dp = db.baseAddress!
            Parallel.forEach(planes, work: total) { p in
                let src = gp + p &* ho &* wo, dst = dp + p &* h &* w
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        let v = src[oy &* wo &+ ox] * inv
                        for ddy in 0..<k {
                            let r: Int = (oy &* k &+ ddy) &* w &+ ox &* k
                            let row = dst + r
                            for ddx in 0..<k { row[ddx] = v }
                        }
                    }
                }
            }
        }}
        return dx
    }
}

/// Global average pooling `[N, C, H, W]` → `[N, C]` (`F.adaptive_avg_pool2d(x, 1).flatten(1)`).
/// Caches the input shape; backward broadcasts dy/(H·W) over each plane.
public final class GlobalAvgPool {
    private var inputShape: [Int] = []

    public init() {}

    /// Pools `x`; caches what `backward` needs.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "GlobalAvgPool: input \(x.shape), expected [N, C, H, W]")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        var y = Tensor(zeros: [x.shape[0], x.shape[1]])
        let inv = 1 / Float(hw)
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            Parallel.forEach(planes, work: x.count) { p in
                yp[p] = ChannelKernels.sum(xp + p &* hw, hw) * inv
            }
        }}
        return y
    }

    /// ∂L/∂x for the last forward's input.
    public func backward(_ dy: Tensor) -> Tensor {
        let s = inputShape
        precondition(dy.shape == [s[0], s[1]], "GlobalAvgPool.backward: dy \(dy.shape), expected [\(s[0]), \(s[1])]")
        let planes = s[0] * s[1], hw = s[2] * s[3]
        var dx = Tensor(zeros: s)
        let total = dx.count
        let inv = 1 / Float(hw)
        dy.withUnsafeBufferPointer { gb in
        dx.withUnsafeMutableBufferPointer { db in
            let gp = gb.baseAddress!, dp = db.baseAddress!
            Parallel.forEach(planes, work: total) { p in
                (dp + p &* hw).update(repeating: gp[p] * inv, count: hw)
            }
        }}
        return dx
    }
}

/// Max pooling, k×k window, stride s, implicit −∞ padding p (PyTorch `nn.MaxPool2d(k, s, p)`, floor mode);
/// the ImageNet ResNet stem uses k 3, s 2, p 1.
///
/// Shapes: x `[N, C, H, W]` → y `[N, C, Ho, Wo]`, Ho = (H + 2p − k)/s + 1. Forward caches, per output, the
/// flat in-plane index of the maximum (the first one in scan order on ties, as PyTorch's CPU kernel);
/// backward adds dy there.
public final class MaxPool2d {
    public let kernel: Int, stride: Int, padding: Int
    private var inputShape: [Int] = []
    private var argmax: [Int32] = []

    public init(kernel: Int, stride: Int, padding: Int = 0) {
        precondition(kernel > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel,
                     "MaxPool2d: bad configuration k \(kernel) s \(stride) p \(padding)")
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    private func outputSize(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }

    /// Pools `x`; caches what `backward` needs.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "MaxPool2d: input \(x.shape), expected [N, C, H, W]")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let ho = outputSize(h), wo = outputSize(w)
        precondition(ho > 0 && wo > 0, "MaxPool2d: input \(x.shape) too small")
        var y = Tensor(zeros: [x.shape[0], x.shape[1], ho, wo])
        if argmax.count != y.count { argmax = [Int32](repeating: 0, count: y.count) }
        let k = kernel, s = stride, pad = padding
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
        argmax.withUnsafeMutableBufferPointer { ab in
            let xp = xb.baseAddress!, yp = yb.baseAddress!, ap = ab.baseAddress!
            Parallel.forEach(planes, work: x.count) { p in
                let src = xp + p &* h &* w, out = p &* ho &* wo
                for oy in 0..<ho {
                    let y0 = Swift.max(0, oy &* s &- pad), y1 = Swift.min(h, oy &* s &- pad &+ k)
                    for ox in 0..<wo {
                        let x0 = Swift.max(0, ox &* s &- pad), x1 = Swift.min(w, ox &* s &- pad &+ k)
                        var best = -Float.infinity, at = y0 &* w &+ x0
                        for iy in y0..<y1 {
                            for ix in x0..<x1 {
                                let v = src[iy &* w &+ ix]
                                // `!(v <= best)` also picks up a NaN, which PyTorch propagates.
                                if !(v <= best) { best = v; at = iy &* w &+ ix }
                            }
                        }
                        yp[out &+ oy &* wo &+ ox] = best
                        ap[out &+ oy &* wo &+ ox] = Int32(at)
                    }
                }
            }
        }}}
        return y
    }

    /// ∂L/∂x for the last forward's input.
    public func backward(_ dy: Tensor) -> Tensor {
        let sh = inputShape
        let planes = sh[0] * sh[1], hw = sh[2] * sh[3], ho = outputSize(sh[2]), wo = outputSize(sh[3])
        precondition(dy.shape == [sh[0], sh[1], ho, wo], "MaxPool2d.backward: dy \(dy.shape)")
        var dx = Tensor(zeros: sh)
        let total = dx.count
        let ohw = ho * wo
        dy.withUnsafeBufferPointer { gb in
        dx.withUnsafeMutableBufferPointer { db in
        argmax.withUnsafeBufferPointer { ab in
            let gp = gb.baseAddress!, dp = db.baseAddress!, ap = ab.baseAddress!
            Parallel.forEach(planes, work: total) { p in
                let dst = dp + p &* hw
                for o in (p &* ohw)..<(p &* ohw &+ ohw) { dst[Int(ap[o])] += gp[o] }
            }
        }}}
        return dx
    }
}
