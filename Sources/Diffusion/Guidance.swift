import Tensors

/// Classifier-free guidance (Ho & Salimans 2022): out = out(∅) + w·(out(c) − out(∅)).
///
/// The formula is applied to the raw model output. For ε-prediction that is ε̂; for v-prediction it is v̂,
/// which is equivalent because ε̂ is an affine function of v̂ with the same x_t in both branches.
public enum Guidance {
    /// uncond + w·(cond − uncond), element-wise.
    public static func combine(conditional c: Tensor, unconditional u: Tensor, weight w: Float) -> Tensor {
        precondition(c.shape == u.shape, "Guidance: shapes \(c.shape) and \(u.shape) differ")
        var out = u
        out.withUnsafeMutableBufferPointer { o in
            c.withUnsafeBufferPointer { cp in
                for i in 0..<o.count { o[i] = o[i] + w * (cp[i] - o[i]) }
            }
        }
        return out
    }

    /// The guided model output at (x_t, t). `lowRes` (cascaded upsampler) is concatenated to x_t along
    /// channels as the model input. `nullCond` is the unconditional vector batch (zeros if nil).
    /// w = 1 runs only the conditional pass and w = 0 only the unconditional one; any other w runs one
    /// forward over the doubled batch [x; x] with conditions [c; ∅].
    public static func predict(model: Denoiser, x: Tensor, lowRes: Tensor? = nil, t: [Int], cond: Tensor,
                               nullCond: Tensor? = nil, weight w: Float) -> Tensor {
        let input = lowRes.map { Batch.concatChannels(x, $0) } ?? x
        let null = nullCond ?? Tensor(zeros: cond.shape)
        precondition(null.shape == cond.shape, "Guidance: null condition \(null.shape) vs \(cond.shape)")
        if w == 1 { return model.predict(input, t: t, cond: cond) }
        if w == 0 { return model.predict(input, t: t, cond: null) }
        let n = x.shape[0]
        let both = model.predict(Batch.stack(input, input), t: t + t, cond: Batch.stack(cond, null))
        return combine(conditional: Batch.slice(both, 0..<n), unconditional: Batch.slice(both, n..<(2 * n)), weight: w)
    }
}
