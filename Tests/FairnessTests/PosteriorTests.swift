import Testing
import Tensors
@testable import Fairness

@Suite struct PosteriorTests {
    /// Sample mean and variance of `count` draws.
    func moments(_ count: Int, _ draw: () -> Double) -> (mean: Double, variance: Double) {
        var xs = [Double](); xs.reserveCapacity(count)
        for _ in 0..<count { xs.append(draw()) }
        let s = meanAndStd(xs, ddof: 1)
        return (s.mean, s.std! * s.std!)
    }

    @Test(arguments: [0.3, 1.0, 2.5, 40.0])
    func gammaMomentsMatchShape(shape: Double) {
        var rng = RNG(seed: 9)
        let m = moments(200_000) { Variates.gamma(shape: shape, &rng) }
        // Gamma(a, 1): mean a, variance a; tolerance ≈ 5 standard errors.
        let se = (shape / 200_000).squareRoot()
        #expect(abs(m.mean - shape) < 5 * se, "mean \(m.mean) for shape \(shape)")
        #expect(abs(m.variance - shape) / shape < 0.03, "variance \(m.variance) for shape \(shape)")
    }

    @Test func betaMomentsMatch() {
        var rng = RNG(seed: 10)
        let (a, b) = (3.0, 5.0)
        let m = moments(200_000) { Variates.beta(a, b, &rng) }
        #expect(abs(m.mean - a / (a + b)) < 0.002)
        #expect(abs(m.variance - a * b / ((a + b) * (a + b) * (a + b + 1))) < 0.001)
    }

    @Test func identicalGroupAndOutgroupCentreOnZero() {
        let p = posteriorDifference(groupHits: 70, groupCount: 100, outgroupHits: 70, outgroupCount: 100, seed: 1)
        #expect(p.samples == 100_000)
        #expect(abs(p.mean) < 0.002)
        #expect(abs(p.lower + p.upper) < 0.01)     // symmetric interval
        // Analytic std: √(2 · Var Beta(71, 31)).
        let v = 71.0 * 31 / (102 * 102 * 103)
        #expect(abs(p.std - (2 * v).squareRoot()) < 0.002)
    }

    @Test func knownDifferenceMatchesAnalyticPosterior() {
        let p = posteriorDifference(groupHits: 90, groupCount: 100, outgroupHits: 60, outgroupCount: 100, seed: 2)
        let m1 = 91.0 / 102, m2 = 61.0 / 102
        let v1 = 91.0 * 11 / (102 * 102 * 103), v2 = 61.0 * 41 / (102 * 102 * 103)
        let sd = (v1 + v2).squareRoot()
        #expect(abs(p.mean - (m1 - m2)) < 4 * sd / (100_000.0).squareRoot())
        #expect(abs(p.std - sd) / sd < 0.02)
        #expect(p.lower > 0.15 && p.upper < 0.45 && p.lower < p.mean && p.mean < p.upper)
    }

    @Test func seededAndReproducible() {
        let a = posteriorDifference(groupHits: 5, groupCount: 9, outgroupHits: 30, outgroupCount: 50, samples: 1000, seed: 3)
        let b = posteriorDifference(groupHits: 5, groupCount: 9, outgroupHits: 30, outgroupCount: 50, samples: 1000, seed: 3)
        let c = posteriorDifference(groupHits: 5, groupCount: 9, outgroupHits: 30, outgroupCount: 50, samples: 1000, seed: 4)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func groupTablePosteriorUsesTop3HitsOfGroupAndOutgroup() {
        // Hand rows: top-3 hits are all true with 3 classes, so both sides are 3/3 and the mean is ≈ 0.
        let t = groupTable(attribute: "g", groups: ["a", "b", "a", "b", "a", "b"], labels: handLabels,
                           scores: handScores, highRisk: [], posteriorSeed: 5, posteriorSamples: 20_000)
        let post = t.top3VsOutgroup!
        #expect(post.count == 2)
        #expect(abs(post[0].mean) < 0.01 && abs(post[1].mean) < 0.01)
        let byHand = outgroupPosteriors(groups: ["a", "b", "a", "b", "a", "b"], top3Hits: Array(repeating: true, count: 6),
                                        samples: 20_000, seed: 5)
        #expect(byHand.map(\.posterior) == post)
    }
}
