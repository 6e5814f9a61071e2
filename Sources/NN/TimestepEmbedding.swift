import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// Sinusoidal timestep embedding of the reference UNet: for t and dim = 2·half,
/// e = [sin(t·f₀) … sin(t·f_{half−1}), cos(t·f₀) … cos(t·f_{half−1})], fᵢ = exp(−ln(10000)·i/half).
/// Float32 arithmetic in PyTorch's order (ln·i, then /half, then exp, then t·f) so values agree to the ulp.
/// Shapes: t `[N]` → e `[N, dim]`. Parameter-free; the backward (∂L/∂t) exists for completeness and checks.
public enum TimestepEmbedding {
    /// The frequencies fᵢ, i = 0..<half.
    public static func frequencies(half: Int) -> [Float] {
        let c = Float(-9.210340371976184)   // −ln(10000)
        return (0..<half).map { expf((c * Float($0)) / Float(half)) }
    }

    public static func forward(_ t: [Float], dim: Int) -> Tensor {
        precondition(dim > 0 && dim % 2 == 0, "TimestepEmbedding: dim \(dim) must be even")
        let half = dim / 2, f = frequencies(half: half)
        var e = Tensor(zeros: [t.count, dim])
        for n in 0..<t.count {
            for i in 0..<half {
                let a = t[n] * f[i]
                e.data[n * dim + i] = sinf(a)
                e.data[n * dim + half + i] = cosf(a)
            }
        }
        return e
    }

    /// ∂L/∂t given ∂L/∂e `[N, dim]`: Σᵢ fᵢ·(cos(t·fᵢ)·de_sinᵢ − sin(t·fᵢ)·de_cosᵢ).
    public static func backward(_ t: [Float], dy: Tensor) -> [Float] {
        precondition(dy.rank == 2 && dy.shape[0] == t.count, "TimestepEmbedding.backward: dy \(dy.shape)")
        let dim = dy.shape[1], half = dim / 2, f = frequencies(half: half)
        return (0..<t.count).map { n in
            var s = 0.0
            for i in 0..<half {
                let a = t[n] * f[i]
                s += Double(f[i]) * (Double(cosf(a)) * Double(dy.data[n * dim + i])
                                     - Double(sinf(a)) * Double(dy.data[n * dim + half + i]))
            }
            return Float(s)
        }
    }
}
