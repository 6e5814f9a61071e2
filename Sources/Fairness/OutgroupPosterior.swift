// The paper's group-vs-outgroup posterior (Ktena et al., Methods, dermatology fairness): a Beta(1,1) prior
// on the top-3 accuracy of a group (attribute = v) and of its outgroup (attribute ≠ v), updated with the
// observed hits; 100,000 samples of p_group − p_outgroup from the two independent Beta posteriors,
// summarised by mean, standard deviation and central 95 % interval.
//
// Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b); Gamma by Marsaglia & Tsang (2000),
// "A simple method for generating gamma variables", with the U^(1/a) boost for shape < 1.
import Tensors

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Summary of posterior samples of a difference.
public struct PosteriorDifference: Sendable, Equatable {
    /// Posterior mean of p_group − p_outgroup.
    public var mean: Double
    /// Standard deviation of the samples (the paper's "spread").
    public var std: Double
    /// 2.5 % and 97.5 % quantiles of the samples.
    public var lower: Double
    public var upper: Double
    /// Number of samples drawn.
    public var samples: Int
}

/// Random variates in Double precision on top of the shared `RNG` stream.
public enum Variates {
    /// Standard normal (Box–Muller with 53-bit uniforms; one value per call keeps streams simple).
    public static func normal(_ rng: inout RNG) -> Double {
        var u1 = rng.uniformDouble()
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = rng.uniformDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Gamma(shape, 1) by Marsaglia–Tsang; shape < 1 uses Gamma(shape + 1) · U^(1/shape).
    public static func gamma(shape: Double, _ rng: inout RNG) -> Double {
        precondition(shape > 0, "gamma shape must be positive")
        if shape < 1 {
            let g = gamma(shape: shape + 1, &rng)
            var u = rng.uniformDouble()
            if u < 1e-300 { u = 1e-300 }
            return g * pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                x = normal(&rng)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = rng.uniformDouble()
            // Squeeze first (cheap), then the exact log test.
            if u < 1 - 0.0331 * (x * x) * (x * x) { return d * v }
            if u > 0, log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// Beta(a, b) as X / (X + Y) with independent Gamma(a), Gamma(b).
    public static func beta(_ a: Double, _ b: Double, _ rng: inout RNG) -> Double {
        let x = gamma(shape: a, &rng), y = gamma(shape: b, &rng)
        return x / (x + y)
    }
}

/// Posterior of p_group − p_outgroup with Beta(prior, prior) priors and binomial likelihoods:
/// p_group ~ Beta(prior + hits, prior + n − hits), likewise for the outgroup; `samples` draws.
public func posteriorDifference(groupHits: Int, groupCount: Int, outgroupHits: Int, outgroupCount: Int,
                                samples: Int = 100_000, prior: Double = 1, seed: UInt64) -> PosteriorDifference {
    precondition(samples >= 2 && groupHits <= groupCount && outgroupHits <= outgroupCount)
    var rng = RNG(seed: seed)
    let ag = prior + Double(groupHits), bg = prior + Double(groupCount - groupHits)
    let ao = prior + Double(outgroupHits), bo = prior + Double(outgroupCount - outgroupHits)
    var diffs = [Double](repeating: 0, count: samples)
    for s in 0..<samples {
        diffs[s] = Variates.beta(ag, bg, &rng) - Variates.beta(ao, bo, &rng)
    }
    let mean = diffs.reduce(0, +) / Double(samples)
    var ss = 0.0
    for d in diffs { ss += (d - mean) * (d - mean) }
    diffs.sort()
    return PosteriorDifference(mean: mean, std: (ss / Double(samples - 1)).squareRoot(),
                               lower: quantile(sorted: diffs, 0.025), upper: quantile(sorted: diffs, 0.975),
                               samples: samples)
}

/// Linear-interpolation quantile of sorted data (numpy's default "linear" method).
public func quantile(sorted x: [Double], _ q: Double) -> Double {
    precondition(!x.isEmpty)
    let h = Double(x.count - 1) * q
    let lo = Int(h.rounded(.down)), hi = min(lo + 1, x.count - 1)
    return x[lo] + (h - Double(lo)) * (x[hi] - x[lo])
}

/// The posterior for each value of an attribute: the group (rows with that value) against its outgroup
/// (all other rows), on top-3 hits. Values in sorted order; value i draws from `RNG(seed).split(i)`, an
/// independent stream, so each result is reproducible from the seed and the value's sorted position.
public func outgroupPosteriors(groups: [String], top3Hits: [Bool], samples: Int = 100_000,
                               seed: UInt64) -> [(value: String, posterior: PosteriorDifference)] {
    precondition(groups.count == top3Hits.count)
    let values = Array(Set(groups)).sorted()
    let base = RNG(seed: seed)
    return values.enumerated().map { index, v in
        var gh = 0, gn = 0, oh = 0, on = 0
        for i in 0..<groups.count {
            if groups[i] == v { gn += 1; if top3Hits[i] { gh += 1 } } else { on += 1; if top3Hits[i] { oh += 1 } }
        }
        var child = base.split(UInt64(index))
        return (v, posteriorDifference(groupHits: gh, groupCount: gn, outgroupHits: oh, outgroupCount: on,
                                       samples: samples, seed: child.next()))
    }
}
