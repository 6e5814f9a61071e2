import Tensors

/// Outcome of a finite-difference gradient check.
public struct GradCheckResult: Sendable, CustomStringConvertible {
    /// Largest |analytic − numeric| over the checked entries.
    public var maxAbsError: Double = 0
    /// Largest |analytic − numeric| / max(|analytic|, |numeric|, floor) over the checked entries.
    public var maxRelError: Double = 0
    /// How many entries were compared.
    public var checked: Int = 0
    /// Where the worst relative error occurred (flat index), for diagnostics.
    public var worstIndex: Int = -1
    /// Entries whose analytic or numeric gradient was NaN or infinite. `max` skips NaN, so without this
    /// count an all-NaN gradient would report zero error and pass.
    public var nonFinite: Int = 0
    /// The first such entry (flat index), for diagnostics.
    public var firstNonFiniteIndex: Int = -1

    /// True when every checked entry is finite and within `rel` relative **or** `abs` absolute error.
    public func passes(rel: Double = 2e-2, abs absTol: Double = 1e-3) -> Bool {
        checked > 0 && nonFinite == 0 && (maxRelError <= rel || maxAbsError <= absTol)
    }

    public var description: String {
        "gradcheck: \(checked) entries, max abs err \(maxAbsError), max rel err \(maxRelError) at \(worstIndex)"
            + (nonFinite > 0 ? ", \(nonFinite) not finite (first at \(firstNonFiniteIndex))" : "")
    }
}

/// Finite-difference gradient checks for layers whose forward runs in Float32.
///
/// The usual probe: loss L = Σᵢ outᵢ·gᵢ accumulated in Double with a fixed random `g`; then ∂L/∂out = g,
/// so `backward(g)` must return ∂L/∂input and accumulate ∂L/∂θ. Central differences with a fairly large
/// ε (1e-2) keep Float32 rounding noise (~1e-7·|L|/ε) well below the tolerance; the layers checked here
/// are smooth enough that the O(ε²) truncation error is small too. Entries are sampled (seeded) so large
/// tensors stay cheap.
public enum GradCheck {
    /// Σ out·g in Double.
    public static func probe(_ out: Tensor, _ g: Tensor) -> Double {
        precondition(out.count == g.count, "probe: \(out.shape) vs \(g.shape)")
        var s = 0.0
        for i in 0..<out.count { s += Double(out.data[i]) * Double(g.data[i]) }
        return s
    }

    /// A fixed random probe direction shaped like `shape`.
    public static func direction(_ shape: [Int], seed: UInt64 = 12345) -> Tensor {
        var rng = RNG(seed: seed)
        var t = Tensor(zeros: shape)
        t.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        return t
    }

    /// Checks `analytic` = ∂loss/∂x at `x`; `loss` is evaluated on perturbed copies of `x`.
    public static func compare(input x: Tensor, analytic: Tensor, eps: Float = 1e-2, maxChecks: Int = 64,
                               seed: UInt64 = 1, loss: (Tensor) -> Double) -> GradCheckResult {
        precondition(x.shape == analytic.shape, "gradcheck: input \(x.shape) vs grad \(analytic.shape)")
        var probe = x
        return compareEntries(count: x.count, analytic: { analytic.data[$0] }, eps: eps, maxChecks: maxChecks, seed: seed,
                              perturb: { i, delta in probe.data[i] = x.data[i] + delta },
                              loss: { loss(probe) })
    }

    /// Checks `parameter.grad` = ∂loss/∂parameter; `loss` re-runs the forward pass reading `parameter.value`.
    /// The parameter's value is restored afterwards.
    public static func compare(parameter p: Parameter, eps: Float = 1e-2, maxChecks: Int = 64, seed: UInt64 = 2,
                               loss: () -> Double) -> GradCheckResult {
        let original = p.value
        let analytic = p.grad
        defer { p.value = original }
        return compareEntries(count: original.count, analytic: { analytic.data[$0] }, eps: eps, maxChecks: maxChecks,
                              seed: seed, perturb: { i, delta in p.value.data[i] = original.data[i] + delta },
                              loss: loss)
    }

    /// The shared central-difference loop: for each sampled entry i, L(x+ε) and L(x−ε).
    static func compareEntries(count: Int, analytic: (Int) -> Float, eps: Float, maxChecks: Int, seed: UInt64,
                               perturb: (Int, Float) -> Void, loss: () -> Double) -> GradCheckResult {
        var indices = Array(0..<count)
        if count > maxChecks {
            var rng = RNG(seed: seed)
            for i in 0..<maxChecks { indices.swapAt(i, i + rng.int(below: count - i)) }
            indices = Array(indices[0..<maxChecks])
        }
        var result = GradCheckResult()
        for i in indices {
            perturb(i, eps)
            let plus = loss()
            perturb(i, -eps)
            let minus = loss()
            perturb(i, 0)
            let numeric = (plus - minus) / (2 * Double(eps))
            let a = Double(analytic(i))
            result.checked += 1
            guard a.isFinite && numeric.isFinite else {
                if result.nonFinite == 0 { result.firstNonFiniteIndex = i }
                result.nonFinite += 1
                continue
            }
            let absErr = Swift.abs(a - numeric)
            let relErr = absErr / Swift.max(Swift.abs(a), Swift.abs(numeric), 1e-3)
            if absErr > result.maxAbsError { result.maxAbsError = absErr }
            if relErr > result.maxRelError { result.maxRelError = relErr; result.worstIndex = i }
        }
        return result
    }
}
