import Tensors

// Training losses. Each returns the MEAN loss (accumulated in Double, reported as Float) and
// ∂loss/∂input as a tensor shaped like the input, so the caller feeds `grad` straight into the last
// layer's `backward`. Formulas follow PyTorch's functional losses with reduction="mean".
//
// Shapes: `logits` are [N, C] (classification) or [N, K] (multi-label); hard targets are N class
// indices; soft targets, multi-label targets and masks are shaped like the logits.
// Row-wise work is done in Double with the log-sum-exp shift, so huge or tiny logits neither overflow
// nor lose the gradient; N·C is small for classifier heads, so the loops are serial.

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

    /// Softmax cross-entropy with class-index targets (`F.cross_entropy(logits, targets)`):
    /// Lᵢ = logΣⱼexp zᵢⱼ − zᵢ,yᵢ; L = mean Lᵢ; ∂L/∂zᵢⱼ = (softmax(zᵢ)ⱼ − [j = yᵢ]) / N.
    public static func crossEntropy(logits: Tensor, targets: [Int]) -> (loss: Float, grad: Tensor) {
        let (n, c) = rows(logits, "crossEntropy")
        precondition(targets.count == n, "crossEntropy: \(targets.count) targets for \(n) rows")
        var grad = Tensor(zeros: logits.shape)
        var total = 0.0
        var logp = [Double](repeating: 0, count: c)
        for i in 0..<n {
            let y = targets[i]
            precondition(y >= 0 && y < c, "crossEntropy: target \(y) of row \(i) outside 0..<\(c)")
            logSoftmax(logits, row: i, into: &logp)
            total -= logp[y]
            for j in 0..<c {
                let onehot: Double = j == y ? 1 : 0
                grad.data[i * c + j] = Float((exp(logp[j]) - onehot) / Double(n))
            }
        }
        return (Float(total / Double(n)), grad)
    }

    /// Softmax cross-entropy with probability targets (`F.cross_entropy(logits, probs)`, each row of
    /// `probabilities` a distribution): Lᵢ = −Σⱼ qᵢⱼ log softmax(zᵢ)ⱼ; L = mean Lᵢ;
    /// ∂L/∂zᵢⱼ = (softmax(zᵢ)ⱼ·Σₖqᵢₖ − qᵢⱼ) / N (rows need not sum to exactly 1).
    public static func crossEntropy(logits: Tensor, probabilities q: Tensor) -> (loss: Float, grad: Tensor) {
        let (n, c) = rows(logits, "crossEntropy")
        precondition(q.shape == logits.shape, "crossEntropy: probabilities \(q.shape) vs logits \(logits.shape)")
        var grad = Tensor(zeros: logits.shape)
        var total = 0.0
        var logp = [Double](repeating: 0, count: c)
        for i in 0..<n {
            logSoftmax(logits, row: i, into: &logp)
            var mass = 0.0
            for j in 0..<c {
                let qj = Double(q.data[i * c + j])
                if qj != 0 { total -= qj * logp[j] } // 0·log p = 0 even when p underflows
                mass += qj
            }
            for j in 0..<c {
                grad.data[i * c + j] = Float((exp(logp[j]) * mass - Double(q.data[i * c + j])) / Double(n))
            }
        }
        return (Float(total / Double(n)), grad)
    }

    /// Masked multi-label sigmoid BCE on logits: for each entry with mask 1,
    /// ℓ = max(z, 0) − z·y + log(1 + e^{−|z|}) (= −y log σ(z) − (1−y) log(1−σ(z)), stable);
    /// L = Σ mask·ℓ / Σ mask (the mean over unmasked entries); ∂L/∂z = mask·(σ(z) − y) / Σ mask.
    /// Masked entries (mask 0: label unknown) contribute nothing; with no unmasked entry L = 0, grad 0.
    /// Equals `F.binary_cross_entropy_with_logits(z, y, weight=mask, reduction="sum") / mask.sum()`.
    public static func bceWithLogits(logits: Tensor, targets: Tensor, mask: Tensor? = nil) -> (loss: Float, grad: Tensor) {
        precondition(targets.shape == logits.shape, "bceWithLogits: targets \(targets.shape) vs logits \(logits.shape)")
        if let mask { precondition(mask.shape == logits.shape, "bceWithLogits: mask \(mask.shape) vs logits \(logits.shape)") }
        let count = logits.count
        var active = 0
        for i in 0..<count {
            let m = mask?.data[i] ?? 1
            precondition(m == 0 || m == 1, "bceWithLogits: mask entries must be 0 or 1, got \(m) at \(i)")
            if m != 0 { active += 1 }
        }
        var grad = Tensor(zeros: logits.shape)
        if active == 0 { return (0, grad) }
        var total = 0.0
        let inv = 1.0 / Double(active)
        for i in 0..<count where (mask?.data[i] ?? 1) != 0 {
            let z = Double(logits.data[i]), y = Double(targets.data[i])
            total += Swift.max(z, 0) - z * y + log1p(exp(-Swift.abs(z)))
            grad.data[i] = Float((sigmoid(z) - y) * inv)
        }
        return (Float(total * inv), grad)
    }

    /// Multi-class softmax focal loss (Lin et al. 2017) with class-index targets:
    /// Lᵢ = −(1 − pₜ)^γ log pₜ with pₜ = softmax(zᵢ)_yᵢ; L = mean Lᵢ. γ = 0 is cross-entropy.
    /// ∂Lᵢ/∂zᵢⱼ = [γ(1−pₜ)^{γ−1} pₜ log pₜ − (1−pₜ)^γ] · ([j = yᵢ] − softmax(zᵢ)ⱼ).
    public static func focal(logits: Tensor, targets: [Int], gamma: Float = 2) -> (loss: Float, grad: Tensor) {
        let (n, c) = rows(logits, "focal")
        precondition(targets.count == n, "focal: \(targets.count) targets for \(n) rows")
        precondition(gamma >= 0, "focal: gamma must be ≥ 0")
        let g = Double(gamma)
        var grad = Tensor(zeros: logits.shape)
        var total = 0.0
        var logp = [Double](repeating: 0, count: c)
        for i in 0..<n {
            let y = targets[i]
            precondition(y >= 0 && y < c, "focal: target \(y) of row \(i) outside 0..<\(c)")
            logSoftmax(logits, row: i, into: &logp)
            let lpt = logp[y], pt = exp(lpt)
            let q = -expm1(lpt)                           // 1 − pₜ without cancellation when pₜ ≈ 1
            let w = g == 0 ? 1 : pow(q, g)
            total -= w * lpt
            let dw = g == 0 ? 0 : g * pow(q, g - 1) * pt  // −∂(1−pₜ)^γ/∂log pₜ
            let dwl = lpt == 0 ? 0 : dw * lpt             // avoids 0·∞ when pₜ = 1 and γ < 1
            let coef = (dwl - w) / Double(n)               // ∂Lᵢ/∂log pₜ scaled by 1/N
            for j in 0..<c {
                let onehot: Double = j == y ? 1 : 0
                grad.data[i * c + j] = Float(coef * (onehot - exp(logp[j])))
            }
        }
        return (Float(total / Double(n)), grad)
    }

    /// Softmax focal loss with probability targets (soft labels), the focal form of soft cross-entropy:
    /// Lᵢ = −Σₖ qᵢₖ (1 − pᵢₖ)^γ log pᵢₖ with p = softmax(zᵢ); L = mean Lᵢ. Every class is weighted by how
    /// badly it is fitted, as the hard form weights its one target class, so a one-hot row equals
    /// `focal(logits:targets:gamma:)` and γ = 0 equals `crossEntropy(logits:probabilities:)`.
    /// With cₖ = γ(1−pₖ)^{γ−1} pₖ log pₖ − (1−pₖ)^γ (= ∂ of the k-th term w.r.t. log pₖ):
    /// ∂Lᵢ/∂zᵢⱼ = qⱼcⱼ − pⱼ Σₖ qₖcₖ.
    public static func focal(logits: Tensor, probabilities q: Tensor, gamma: Float = 2) -> (loss: Float, grad: Tensor) {
        let (n, c) = rows(logits, "focal")
        precondition(q.shape == logits.shape, "focal: probabilities \(q.shape) vs logits \(logits.shape)")
        precondition(gamma >= 0, "focal: gamma must be ≥ 0")
        let g = Double(gamma)
        var grad = Tensor(zeros: logits.shape)
        var total = 0.0
        var logp = [Double](repeating: 0, count: c)
        var qc = [Double](repeating: 0, count: c)
        for i in 0..<n {
            logSoftmax(logits, row: i, into: &logp)
            var sum = 0.0
            for k in 0..<c {
                let qk = Double(q.data[i * c + k])
                qc[k] = 0
                guard qk != 0 else { continue }           // 0·log p = 0 even when p underflows
                let lp = logp[k], p = exp(lp)
                let r = -expm1(lp)                          // 1 − pₖ without cancellation
                let w = g == 0 ? 1 : pow(r, g)
                total -= qk * w * lp
                let dw = g == 0 ? 0 : g * pow(r, g - 1) * p
                qc[k] = qk * ((lp == 0 ? 0 : dw * lp) - w)
                sum += qc[k]
            }
            for j in 0..<c {
                grad.data[i * c + j] = Float((qc[j] - exp(logp[j]) * sum) / Double(n))
            }
        }
        return (Float(total / Double(n)), grad)
    }

    /// Sigmoid (multi-label) focal loss, torchvision's `sigmoid_focal_loss` with an optional mask:
    /// p = σ(z), pₜ = p·y + (1−p)(1−y), ℓ = αₜ·(1−pₜ)^γ·BCE(z, y) with αₜ = α·y + (1−α)(1−y)
    /// (α < 0 disables the weighting); L = Σ mask·ℓ / Σ mask (all entries when `mask` is nil).
    /// ∂ℓ/∂z = αₜ[(p − y)(1−pₜ)^γ − γ(1−pₜ)^{γ−1}(2y−1)p(1−p)·BCE]. 1−pₜ is formed as y·σ(−z) + (1−y)·σ(z)
    /// so it keeps full precision for confident predictions.
    public static func sigmoidFocal(logits: Tensor, targets: Tensor, mask: Tensor? = nil, gamma: Float = 2,
                                    alpha: Float = 0.25) -> (loss: Float, grad: Tensor) {
        precondition(targets.shape == logits.shape, "sigmoidFocal: targets \(targets.shape) vs logits \(logits.shape)")
        if let mask { precondition(mask.shape == logits.shape, "sigmoidFocal: mask \(mask.shape) vs logits \(logits.shape)") }
        precondition(gamma >= 0, "sigmoidFocal: gamma must be ≥ 0")
        let count = logits.count
        var active = 0
        for i in 0..<count {
            let m = mask?.data[i] ?? 1
            precondition(m == 0 || m == 1, "sigmoidFocal: mask entries must be 0 or 1, got \(m) at \(i)")
            if m != 0 { active += 1 }
        }
        var grad = Tensor(zeros: logits.shape)
        if active == 0 { return (0, grad) }
        let g = Double(gamma), a = Double(alpha)
        let inv = 1.0 / Double(active)
        var total = 0.0
        for i in 0..<count where (mask?.data[i] ?? 1) != 0 {
            let z = Double(logits.data[i]), y = Double(targets.data[i])
            let p = sigmoid(z), q = sigmoid(-z)                    // σ(z), 1 − σ(z)
            let ce = Swift.max(z, 0) - z * y + log1p(exp(-Swift.abs(z)))
            let r = y * q + (1 - y) * p                            // 1 − pₜ
            let w = g == 0 ? 1 : pow(r, g)
            let at = a < 0 ? 1 : a * y + (1 - a) * (1 - y)
            total += at * w * ce
            let dw = (g == 0 || r == 0) ? 0 : -g * pow(r, g - 1) * (2 * y - 1) * p * q // ∂(1−pₜ)^γ/∂z
            grad.data[i] = Float(at * ((p - y) * w + ce * dw) * inv)
        }
        return (Float(total * inv), grad)
    }

    /// Logistic function without overflow for large |z|.
    static func sigmoid(_ z: Double) -> Double {
        z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
    }

    /// (N, C) of a rank-2 logits tensor.
    static func rows(_ logits: Tensor, _ what: String) -> (Int, Int) {
        precondition(logits.rank == 2, "\(what): logits must be [N, C], got \(logits.shape)")
        precondition(logits.shape[0] > 0 && logits.shape[1] > 0, "\(what): empty logits \(logits.shape)")
        return (logits.shape[0], logits.shape[1])
    }

    /// log softmax of row `i` in Double, shifted by the row max (log-sum-exp).
    static func logSoftmax(_ logits: Tensor, row i: Int, into out: inout [Double]) {
        let c = out.count
        var mx = -Double.infinity
        for j in 0..<c { mx = Swift.max(mx, Double(logits.data[i * c + j])) }
        var s = 0.0
        for j in 0..<c { s += exp(Double(logits.data[i * c + j]) - mx) }
        let lse = mx + log(s)
        for j in 0..<c { out[j] = Double(logits.data[i * c + j]) - lse }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
