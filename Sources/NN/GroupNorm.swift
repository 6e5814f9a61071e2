import Tensors

/// Group normalisation (Wu & He 2018), as `torch.nn.GroupNorm(groups, channels, eps, affine=True)`.
///
/// Shapes: x `[N, C, …]` (any trailing spatial extent S, e.g. `[N, C, H, W]`) → y same shape;
/// weight γ `[C]` (init 1), bias β `[C]` (init 0). Statistics per (sample, group) over the group's
/// (C/G)·S contiguous values, biased variance, accumulated in Double.
/// Forward caches x (shared storage) and mean / rstd `[N·G]`; backward rebuilds x̂ from them.
/// Parallel over N·G; the γ/β gradients are summed per (n, c) first and then over n in order,
/// so results do not depend on the thread count.
public final class GroupNorm {
    public let groups: Int, channels: Int, eps: Float
    public let weight: Parameter
    public let bias: Parameter
    /// Parameters in PyTorch `named_parameters()` order.
    public var parameters: [Parameter] { [weight, bias] }

    private var input = Tensor(zeros: [0])
    private var mean: [Float] = []
    private var rstd: [Float] = []

    public init(name: String, groups: Int, channels: Int, eps: Float = 1e-5) {
        precondition(groups > 0 && channels % groups == 0, "GroupNorm \(name): \(channels) channels not divisible by \(groups) groups")
        self.groups = groups; self.channels = channels; self.eps = eps
        weight = Parameter(name: name + ".weight", value: Tensor(repeating: 1, shape: [channels]))
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [channels]))
    }

    private func layout(_ x: Tensor) -> (n: Int, spatial: Int) {
        precondition(x.rank >= 2 && x.shape[1] == channels, "GroupNorm: input \(x.shape), expected [N, \(channels), …]")
        return (x.shape[0], x.count / (x.shape[0] * channels))
    }

    /// Bytes this layer holds for a later `backward` (input, mean, rstd; 0 after an inference forward).
    public var cachedBytes: Int { (input.count + mean.count + rstd.count) * MemoryLayout<Float>.size }

    /// y = GroupNorm(x). With `inference` nothing is kept for a backward, and the caches of an earlier
    /// training forward stay as they were.
    public func forward(_ x: Tensor, inference: Bool = false) -> Tensor {
        let (n, s) = layout(x)
        let kept: ([Float], [Float])? = inference ? (mean, rstd) : nil
        defer { if let kept { (mean, rstd) = kept } }
        if !inference { input = x }
        let cpg = channels / groups, m = cpg * s, eps = Double(self.eps)
        mean = [Float](repeating: 0, count: n * groups)
        rstd = [Float](repeating: 0, count: n * groups)
        var y = Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
        weight.value.withUnsafeBufferPointer { gb in
        bias.value.withUnsafeBufferPointer { bb in
        mean.withUnsafeMutableBufferPointer { mb in
        rstd.withUnsafeMutableBufferPointer { rb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!, mp = mb.baseAddress!, rp = rb.baseAddress!
            let gp = gb.baseAddress!, bp = bb.baseAddress!
            Parallel.forEach(n * groups, work: x.count, minWork: 65_536) { item in
                let base = item &* m
                let seg = xp + base
                var sum = 0.0
                for i in 0..<m { sum += Double(seg[i]) }
                let mu = sum / Double(m)
                var sq = 0.0
                for i in 0..<m { let d = Double(seg[i]) - mu; sq += d * d }
                let r = 1 / (sq / Double(m) + eps).squareRoot()
                mp[item] = Float(mu); rp[item] = Float(r)
                let muF = Float(mu), rF = Float(r)
                let c0 = (item % groups) &* cpg
                for cc in 0..<cpg {
                    let scale = rF * gp[c0 &+ cc], shift = bp[c0 &+ cc] - muF * scale
                    let xs = seg + cc &* s, ys = yp + (base &+ cc &* s)
                    for i in 0..<s { ys[i] = xs[i] * scale + shift }
                }
            }
        }}}}}}
        return y
    }

    /// ∂L/∂x; accumulates ∂L/∂γ = Σ dy·x̂ and ∂L/∂β = Σ dy per channel.
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let (n, s) = layout(x)
        precondition(dy.shape == x.shape, "GroupNorm.backward: dy \(dy.shape) vs x \(x.shape)")
        let cpg = channels / groups, m = cpg * s
        var dx = Tensor(zeros: x.shape)
        var sumDy = [Double](repeating: 0, count: n * channels)
        var sumDyXhat = [Double](repeating: 0, count: n * channels)
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        dx.withUnsafeMutableBufferPointer { dxb in
        weight.value.withUnsafeBufferPointer { gb in
        sumDy.withUnsafeMutableBufferPointer { s1b in
        sumDyXhat.withUnsafeMutableBufferPointer { s2b in
            let xp = xb.baseAddress!, dyp = dyb.baseAddress!, dxp = dxb.baseAddress!, gp = gb.baseAddress!
            let s1 = s1b.baseAddress!, s2 = s2b.baseAddress!
            let meanV = mean, rstdV = rstd
            Parallel.forEach(n * groups, work: x.count, minWork: 65_536) { item in
                let base = item &* m
                let mu = meanV[item], r = rstdV[item]
                let c0 = (item % groups) &* cpg
                let nc0 = (item / groups) &* channels &+ c0
                // Σ over the group of dx̂ and dx̂·x̂, with dx̂ = dy·γ.
                var a1 = 0.0, a2 = 0.0
                for cc in 0..<cpg {
                    let xs = xp + (base &+ cc &* s), ds = dyp + (base &+ cc &* s)
                    var t1: Float = 0, t2: Float = 0
                    var d1 = 0.0, d2 = 0.0
                    // Blocks of Float partial sums folded into Double keep accuracy and vectorise.
                    var i = 0
                    while i < s {
                        let e = Swift.min(s, i &+ 256)
                        t1 = 0; t2 = 0
                        for j in i..<e { let xh = (xs[j] - mu) * r; t1 += ds[j]; t2 += ds[j] * xh }
                        d1 += Double(t1); d2 += Double(t2)
                        i = e
                    }
                    s1[nc0 &+ cc] = d1; s2[nc0 &+ cc] = d2
                    let gamma = Double(gp[c0 &+ cc])
                    a1 += gamma * d1; a2 += gamma * d2
                }
                let m1 = Float(a1 / Double(m)), m2 = Float(a2 / Double(m))
                for cc in 0..<cpg {
                    let gamma = gp[c0 &+ cc]
                    let xs = xp + (base &+ cc &* s), ds = dyp + (base &+ cc &* s), out = dxp + (base &+ cc &* s)
                    for j in 0..<s {
                        let xh = (xs[j] - mu) * r
                        out[j] = r * (gamma * ds[j] - m1 - xh * m2)
                    }
                }
            }
        }}}}}}
        for c in 0..<channels {
            var g1 = 0.0, g2 = 0.0
            for b in 0..<n { g1 += sumDy[b * channels + c]; g2 += sumDyXhat[b * channels + c] }
            bias.grad.data[c] += Float(g1)
            weight.grad.data[c] += Float(g2)
        }
        return dx
    }
}
