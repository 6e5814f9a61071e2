import Tensors

/// Clips gradients by their global 2-norm, as `torch.nn.utils.clip_grad_norm_` does:
/// total = √(Σ over all parameters of ‖grad‖²); when maxNorm/(total + 1e-6) < 1 every gradient is
/// multiplied by that factor. Returns the total norm measured before clipping (NaN/∞ are returned,
/// not thrown, so the caller can skip the step — PyTorch's `error_if_nonfinite=False`).
///
/// The sum of squares is accumulated in Double in parameter order, so the result does not depend on
/// thread count.
@discardableResult
public func clipGradNorm(_ params: [Parameter], maxNorm: Float) -> Float {
    precondition(maxNorm >= 0, "clipGradNorm: maxNorm must be ≥ 0")
    var sumSq = 0.0
    for p in params {
        p.grad.withUnsafeBufferPointer { g in
            var s = 0.0
            for v in g { s += Double(v) * Double(v) }
            sumSq += s
        }
    }
    let total = Float(sumSq.squareRoot())
    let coef = maxNorm / (total + 1e-6)
    if coef < 1 {
        for p in params {
            let n = p.grad.count
            p.grad.withUnsafeMutableBufferPointer { gb in
                let g = gb.baseAddress!
                Parallel.chunks(n) { r in for i in r { g[i] = g[i] * coef } }
            }
        }
    }
    return total
}
