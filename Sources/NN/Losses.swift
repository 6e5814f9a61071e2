import Tensors

// Training losses. Each returns the MEAN loss (accumulated in Double, reported as Float) and
// ∂loss/∂input as a tensor shaped like the input, so the caller feeds `grad` straight into the last
// layer's `backward`. Formulas follow PyTorch's functional losses with reduction="mean".

/// Loss functions with their analytic gradients.
public enum Losses {
    /// Mean squared error: L = mean((pred − target)²), ∂L/∂pred = 2(pred − target)/n
    /// (`F.mse_loss(pred, target)`).
    public static func mse(_ pred: Tensor, _ target: Tensor) -> (loss: Float, grad: Tensor) {
        precondition(pred.shape == target.shape, "mse: pred \(pred.shape) vs target \(target.shape)")
        let n = pred.count
        precondition(n > 0, "mse: empty input")
        var grad = Tensor(zeros: pred.shape)
        let scale = Float(2.0 / Double(n))
        var sum = 0.0
        pred.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { t in
                grad.withUnsafeMutableBufferPointer { g in
                    for i in 0..<n {
                        let d = p[i] - t[i]
                        sum += Double(d) * Double(d)
                        g[i] = scale * d
                    }
                }
            }
        }
        return (Float(sum / Double(n)), grad)
    }
}
