import Foundation

// Paired comparison of two variants over the same training seeds (issue 11: "statistics you can trust").
//
// Variant A and variant B trained with seed k share that seed's data order and initialisation stream, so the
// per-seed differences d_k = A_k − B_k cancel the seed-to-seed variation both share. The interval is the
// paired Student t interval: mean(d) ± t_{1−(1−level)/2, n−1} · sd(d)/√n. With few seeds t is large (12.7 at
// two seeds, 4.30 at three): that width is the honest price of few seeds, and the verdict follows it.

/// What a paired interval says about "A − B" for a metric where higher is better.
public enum PairedVerdict: String, Sendable, Equatable {
    /// The whole interval lies above 0.
    case helped
    /// The interval contains 0 (or cannot be computed: fewer than two paired seeds).
    case noClearDifference = "no clear difference"
    /// The whole interval lies below 0.
    case hurt
}

/// The paired per-seed difference A − B of one metric.
public struct PairedDifference: Sendable, Equatable {
    /// Seeds where both A and B are defined.
    public var n: Int
    /// Mean of the per-seed differences (nil when n = 0).
    public var mean: Double?
    /// Sample std (ddof 1) of the differences (nil when n < 2).
    public var std: Double?
    /// Confidence interval bounds at `level` (nil when n < 2).
    public var lower: Double?
    public var upper: Double?
    /// Confidence level of the interval, e.g. 0.95.
    public var level: Double
    /// The per-seed differences in seed order (nil where either side is undefined).
    public var perSeed: [Double?]

    /// `helped` only when the interval excludes 0 from above, `hurt` when it excludes it from below.
    public var verdict: PairedVerdict {
        guard let lo = lower, let hi = upper else { return .noClearDifference }
        if lo > 0 { return .helped }
        if hi < 0 { return .hurt }
        return .noClearDifference
    }

    /// `{"n", "mean", "std", "lower", "upper", "level", "method", "per_seed"}` (docs/metrics.md).
    public var json: JSONValue {
        .fields([
            "n": .int(n), "mean": .number(mean), "std": .number(std),
            "lower": .number(lower), "upper": .number(upper), "level": .number(level),
            "method": .string("paired t"),
            "per_seed": .array(perSeed.map { .number($0) }),
        ])
    }
}

/// Paired difference `a − b` over seeds (same index = same seed). Seeds where either value is missing or
/// not finite are left out of the statistics.
public func pairedDifference(_ a: [Double?], _ b: [Double?], level: Double = 0.95) -> PairedDifference {
    precondition(level > 0 && level < 1, "pairedDifference: level must be in (0, 1)")
    let count = min(a.count, b.count)
    var perSeed: [Double?] = []
    for k in 0..<count {
        if let x = a[k], let y = b[k], x.isFinite, y.isFinite { perSeed.append(x - y) } else { perSeed.append(nil) }
    }
    let d = perSeed.compactMap { $0 }
    guard !d.isEmpty else {
        return PairedDifference(n: 0, mean: nil, std: nil, lower: nil, upper: nil, level: level, perSeed: perSeed)
    }
    let s = meanAndStd(d, ddof: 1)
    guard let sd = s.std else {
        return PairedDifference(n: d.count, mean: s.mean, std: nil, lower: nil, upper: nil, level: level, perSeed: perSeed)
    }
    let half = studentTQuantile(1 - (1 - level) / 2, degreesOfFreedom: d.count - 1) * sd / Double(d.count).squareRoot()
    return PairedDifference(n: d.count, mean: s.mean, std: sd, lower: s.mean - half, upper: s.mean + half,
                            level: level, perSeed: perSeed)
}

/// The p-quantile of Student's t distribution with `df` degrees of freedom (p in (0, 1), df ≥ 1).
/// Found by bisection on the CDF, which is exact to ~1e-12 here and needs no table.
public func studentTQuantile(_ p: Double, degreesOfFreedom df: Int) -> Double {
    precondition(p > 0 && p < 1 && df >= 1, "studentTQuantile: p in (0, 1), df ≥ 1")
    if p == 0.5 { return 0 }
    if p < 0.5 { return -studentTQuantile(1 - p, degreesOfFreedom: df) }
    var lo = 0.0, hi = 1.0
    while studentTCDF(hi, degreesOfFreedom: df) < p { hi *= 2 }
    for _ in 0..<200 {
        let mid = (lo + hi) / 2
        if studentTCDF(mid, degreesOfFreedom: df) < p { lo = mid } else { hi = mid }
        if hi - lo <= 1e-13 * max(1, hi) { break }
    }
    return (lo + hi) / 2
}

/// Student's t CDF: for t ≥ 0, 1 − ½·I_{df/(df+t²)}(df/2, ½) (regularised incomplete beta).
public func studentTCDF(_ t: Double, degreesOfFreedom df: Int) -> Double {
    let v = Double(df)
    let tail = 0.5 * regularizedIncompleteBeta(x: v / (v + t * t), a: v / 2, b: 0.5)
    return t >= 0 ? 1 - tail : tail
}

/// I_x(a, b) by its continued fraction (modified Lentz), using the symmetry I_x(a,b) = 1 − I_{1−x}(b,a)
/// where the fraction converges slowly.
func regularizedIncompleteBeta(x: Double, a: Double, b: Double) -> Double {
    if x <= 0 { return 0 }
    if x >= 1 { return 1 }
    let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
    let logPowers: Double = a * log(x) + b * log(1 - x)
    let logFront = logPowers - logBeta
    if x > (a + 1) / (a + b + 2) {
        return 1 - regularizedIncompleteBeta(x: 1 - x, a: b, b: a)
    }
    let tiny = 1e-300
    var c = 1.0, d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var f = d
    for m in 1...500 {
        let m2 = Double(2 * m), md = Double(m)
        // Even step.
        var num = md * (b - md) * x / ((a + m2 - 1) * (a + m2))
        d = 1 + num * d; if abs(d) < tiny { d = tiny }
        c = 1 + num / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        f *= d * c
        // Odd step.
        num = -(a + md) * (a + b + md) * x / ((a + m2) * (a + m2 + 1))
        d = 1 + num * d; if abs(d) < tiny { d = tiny }
        c = 1 + num / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        let delta = d * c
        f *= delta
        if abs(delta - 1) < 1e-15 { break }
    }
    return exp(logFront) * f / a
}
