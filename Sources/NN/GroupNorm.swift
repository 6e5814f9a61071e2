import CKernels
import Tensors

/// Group normalisation (Wu & He 2018), as `torch.nn.GroupNorm(groups, channels, eps, affine=True)`,
/// optionally followed by SiLU in the same pass (`forward(x, silu: true)`).
///
/// Shapes: x `[N, C, …]` (any trailing spatial extent S, e.g. `[N, C, H, W]`) → y same shape;
/// weight γ `[C]` (init 1), bias β `[C]` (init 0). Statistics per (sample, group) over the group's
/// (C/G)·S contiguous values, biased variance, accumulated in Double (16 lanes, fixed order).
/// Forward caches x (shared storage) and mean / rstd `[N·G]`; backward rebuilds x̂ — and, when fused, the
/// SiLU input — from them, so the fused form keeps no intermediate tensor.
/// Parallel over N·G; each (sample, group) is one call of the `CKernels` group kernels, and the γ/β
/// gradients are summed per (n, c) first and then over n in order, so results do not depend on the
/// thread count.
public final class GroupNorm {
    public let groups: Int, channels: Int, eps: Float
    public let weight: Parameter
    public let bias: Parameter
    /// Parameters in PyTorch `named_parameters()` order.
    public var parameters: [Parameter] { [weight, bias] }

    private var input = Tensor(zeros: [0])
    private var mean: [Float] = []
    private var rstd: [Float] = []
    private var fusedSiLU = false

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

    /// GroupNorm(x), or SiLU(GroupNorm(x)) when `silu` (bit-identical to `NN.silu(forward(x))`, without the
    /// intermediate tensor). The next `backward` then expects ∂L/∂ of that output. With `inference` nothing
    /// is kept for a backward, and the caches of an earlier training forward stay as they were.
    public func forward(_ x: Tensor, silu: Bool = false, inference: Bool = false) -> Tensor {
        let (n, s) = layout(x)
        let kept: ([Float], [Float])? = inference ? (mean, rstd) : nil
        defer { if let kept { (mean, rstd) = kept } }
        if !inference {
            input = x
            fusedSiLU = silu
        }
        let cpg = channels / groups, m = cpg * s, eps = Double(self.eps), fuse: Int32 = silu ? 1 : 0
        mean = [Float](repeating: 0, count: n * groups)
        rstd = [Float](repeating: 0, count: n * groups)
        var y = Tensor(zeros: x.shape)
        if x.count == 0 { return y }
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
        weight.value.withUnsafeBufferPointer { gb in
        bias.value.withUnsafeBufferPointer { bb in
        mean.withUnsafeMutableBufferPointer { mb in
        rstd.withUnsafeMutableBufferPointer { rb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!, mp = mb.baseAddress!, rp = rb.baseAddress!
            let gp = gb.baseAddress!, bp = bb.baseAddress!
            Parallel.forEach(n * groups, work: x.count, minWork: 65_536) { item in
                let base = item &* m, c0 = (item % groups) &* cpg
                fg_groupnorm_forward(xp + base, yp + base, cpg, s, gp + c0, bp + c0, eps, fuse, mp + item, rp + item)
            }
        }}}}}}
        return y
    }

    /// ∂L/∂x for ∂L/∂ of the last forward's output (through the SiLU when that forward fused it);
    /// accumulates ∂L/∂γ = Σ da·x̂ and ∂L/∂β = Σ da per channel (da = ∂L/∂ of the GroupNorm output).
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let (n, s) = layout(x)
        precondition(dy.shape == x.shape, "GroupNorm.backward: dy \(dy.shape) vs x \(x.shape)")
        let cpg = channels / groups, fuse: Int32 = fusedSiLU ? 1 : 0
        var dx = Tensor(zeros: x.shape)
        if x.count == 0 { return dx }
        var sumDy = [Double](repeating: 0, count: n * channels)
        var sumDyXhat = [Double](repeating: 0, count: n * channels)
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        dx.withUnsafeMutableBufferPointer { dxb in
        weight.value.withUnsafeBufferPointer { gb in
        bias.value.withUnsafeBufferPointer { bb in
        sumDy.withUnsafeMutableBufferPointer { s1b in
        sumDyXhat.withUnsafeMutableBufferPointer { s2b in
            let xp = xb.baseAddress!, dyp = dyb.baseAddress!, dxp = dxb.baseAddress!
            let gp = gb.baseAddress!, bp = bb.baseAddress!, s1 = s1b.baseAddress!, s2 = s2b.baseAddress!
            let meanV = mean, rstdV = rstd, m = cpg * s
            Parallel.forEach(n * groups, work: x.count, minWork: 65_536) { item in
                let base = item &* m, c0 = (item % groups) &* cpg
                let nc0 = (item / groups) &* channels &+ c0
                fg_groupnorm_backward(xp + base, dyp + base, dxp + base, cpg, s, gp + c0, bp + c0,
                                      meanV[item], rstdV[item], fuse, s1 + nc0, s2 + nc0)
            }
        }}}}}}}
        for c in 0..<channels {
            var g1 = 0.0, g2 = 0.0
            for b in 0..<n { g1 += sumDy[b * channels + c]; g2 += sumDyXhat[b * channels + c] }
            bias.grad.data[c] += Float(g1)
            weight.grad.data[c] += Float(g2)
        }
        return dx
    }
}
