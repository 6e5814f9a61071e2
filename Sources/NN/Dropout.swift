import Tensors

// Dropout (inverted, as nn.Dropout): training forward y = x·mask/(1 − p), mask ~ Bernoulli(1 − p);
// eval forward y = x. Shapes: x, y, mask all the same shape (any rank).
// Forward caches the scaled mask (0 or 1/(1 − p) per element) for backward: dx = dy·mask.
//
// Randomness: the layer owns `rng`; each training forward draws one 64-bit seed from it and fills the
// mask in fixed blocks of `blockSize` elements, block b from `seed.split(b)`. The mask therefore depends
// only on the seed and the tensor size, never on thread count. Save `rng.state` in checkpoints so a
// resumed run draws the same masks.

/// Inverted dropout with a cached mask.
public final class Dropout {
    /// Drop probability in [0, 1).
    public let p: Float
    /// Training mode drops; eval mode is the identity.
    public var training = true
    /// The layer's own generator (checkpoint it to resume bit-identically).
    public var rng: RNG
    /// The scaled mask from the last training forward (empty after an eval forward).
    public private(set) var mask = Tensor(zeros: [0])
    /// Whether the last forward was the identity (eval mode, p = 0 or an empty input).
    private var lastWasIdentity = true
    static let blockSize = 4096

    /// `rng` is forked, so the caller's stream advances by one draw and the layer gets its own stream.
    public init(p: Float, rng: inout RNG) {
        precondition(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
        self.rng = rng.fork()
    }

    /// Training: y = x·mask/(1 − p) with a fresh mask (cached for backward); eval: y = x.
    public func forward(_ x: Tensor) -> Tensor {
        let n = x.count
        if !training || p == 0 || n == 0 {
            mask = Tensor(zeros: [0])
            lastWasIdentity = true
            return x
        }
        let base = rng.fork()
        let keep = 1 - p, scale = 1 / (1 - p)
        var m = Tensor(zeros: x.shape)
        var y = Tensor(zeros: x.shape)
        let blocks = (n + Dropout.blockSize - 1) / Dropout.blockSize
        x.withUnsafeBufferPointer { xb in
            m.withUnsafeMutableBufferPointer { mb in
                y.withUnsafeMutableBufferPointer { yb in
                    let xp = xb.baseAddress!, mp = mb.baseAddress!, yp = yb.baseAddress!
                    Parallel.forEach(blocks, work: n) { b in
                        var r = base.split(UInt64(b))
                        let lo = b * Dropout.blockSize, hi = Swift.min(n, lo + Dropout.blockSize)
                        for i in lo..<hi {
                            let v: Float = r.uniform() < keep ? scale : 0
                            mp[i] = v
                            yp[i] = xp[i] * v
                        }
                    }
                }
            }
        }
        mask = m
        lastWasIdentity = false
        return y
    }

    /// dx = dy·mask (identity after an eval forward). No parameters.
    public func backward(_ dy: Tensor) -> Tensor {
        if lastWasIdentity { return dy }
        precondition(dy.shape == mask.shape, "Dropout.backward: dy \(dy.shape) vs cached mask \(mask.shape)")
        var dx = Tensor(zeros: dy.shape)
        let n = dy.count
        dy.withUnsafeBufferPointer { db in
            mask.withUnsafeBufferPointer { mb in
                dx.withUnsafeMutableBufferPointer { xb in
                    let d = db.baseAddress!, m = mb.baseAddress!, x = xb.baseAddress!
                    Parallel.chunks(n) { r in for i in r { x[i] = d[i] * m[i] } }
                }
            }
        }
        return dx
    }
}
