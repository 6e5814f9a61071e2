import NN
import Tensors

/// The reference UNet's attention block: out = x + proj(attention(qkv(n(x)))), with `heads` heads over
/// the H·W positions (see `SpatialSelfAttention`). Shapes: x `[N, C, H, W]` → out `[N, C, H, W]`;
/// qkv is a 1×1 conv C → 3C, proj a 1×1 conv C → C. Each sub-layer caches its own input.
public final class AttnBlock {
    public let n: GroupNorm, qkv: Conv2d, proj: Conv2d
    public let attention: SpatialSelfAttention
    /// Parameters in PyTorch `named_parameters()` order (n, qkv, proj).
    public var parameters: [Parameter] { n.parameters + qkv.parameters + proj.parameters }

    public init(name: String, channels c: Int, heads: Int, groups: Int = 32, rng: inout RNG) {
        n = GroupNorm(name: name + ".n", groups: groups, channels: c)
        qkv = Conv2d(name: name + ".qkv", inChannels: c, outChannels: 3 * c, kernel: 1, rng: &rng)
        proj = Conv2d(name: name + ".proj", inChannels: c, outChannels: c, kernel: 1, rng: &rng)
        attention = SpatialSelfAttention(heads: heads)
    }

    /// Bytes held for a later `backward` by the block's layers (0 after an inference forward).
    public var cachedBytes: Int { n.cachedBytes + qkv.cachedBytes + attention.cachedBytes + proj.cachedBytes }

    /// With `inference` nothing is kept for a backward (earlier training caches stay as they were).
    public func forward(_ x: Tensor, inference: Bool = false) -> Tensor {
        let normed = n.forward(x, inference: inference)
        let attended = attention.forward(qkv.forward(normed, inference: inference), inference: inference)
        var out = proj.forward(attended, inference: inference)
        Elementwise.addInPlace(&out, x)
        return out
    }

    /// ∂L/∂x; accumulates every parameter gradient.
    public func backward(_ dOut: Tensor) -> Tensor {
        var dx = n.backward(qkv.backward(attention.backward(proj.backward(dOut))))
        Elementwise.addInPlace(&dx, dOut)
        return dx
    }
}
