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

    /// Five Monte Carlo standard errors (a false failure has probability < 1e-6 per check) for a summary of
    /// N independent draws of a distribution with standard deviation σ and fourth central moment μ₄:
    /// mean σ/√N; sample std √((μ₄ − σ⁴)/(4σ²N)) (delta method on s²); p-quantile √(p(1−p)/N) / f(x_p).
    func checkAgainstExact(_ p: PosteriorDifference, _ e: [String: Any], _ what: String) {
        let n = Double(p.samples)
        let sigma = e.optionalDouble("std")!, mu4 = e.optionalDouble("central_moment4")!
        #expect(p.samples == 100_000)
        expectClose(p.mean, e.optionalDouble("mean"), 5 * sigma / n.squareRoot(), "\(what) mean")
        expectClose(p.std, sigma, 5 * ((mu4 - sigma * sigma * sigma * sigma) / (4 * sigma * sigma * n)).squareRoot(), "\(what) std")
        for (name, q) in [("lower", 0.025), ("upper", 0.975)] {
            let se = (q * (1 - q) / n).squareRoot() / e.optionalDouble("density_" + name)!
            expectClose(name == "lower" ? p.lower : p.upper, e.optionalDouble(name), 5 * se, "\(what) \(name)")
        }
    }

    /// scipy's exact posterior (mean, std, and the 2.5/97.5 % quantiles of the difference of the two Beta
    /// posteriors by numerical convolution) for skewed, very unequal hit rates.
    @Test func sampledPosteriorMatchesScipyExactQuantiles() throws {
        let f = try Fixture.json("posterior.json") as! [String: Any]
        for (i, e) in (f["direct"] as! [[String: Any]]).enumerated() {
            let p = posteriorDifference(groupHits: e.int("group_hits"), groupCount: e.int("group_count"),
                                        outgroupHits: e.int("outgroup_hits"), outgroupCount: e.int("outgroup_count"),
                                        seed: UInt64(20 + i))
            checkAgainstExact(p, e, "direct \(i)")
            // The interval is the posterior's, not any wide one: its width is within 2 % of the exact width.
            let width = e.optionalDouble("upper")! - e.optionalDouble("lower")!
            #expect(abs((p.upper - p.lower) - width) < 0.02 * width)
        }
    }

    /// Six classes (so top-3 hits are not automatic), three groups with unequal hit rates and rows whose
    /// group is missing: each group's posterior against its outgroup — the other rows *with* a value —
    /// matches scipy's exact posterior for the fixture's hit counts.
    @Test func groupTablePosteriorMatchesScipyWithUnequalHits() throws {
        let f = try Fixture.json("posterior.json") as! [String: Any]
        let c = f.int("classes"), labels = f.ints("labels")
        let scores = ScoreMatrix(rows: labels.count, columns: c, values: f.doubles("scores"))
        let groups = (f["groups"] as! [Any]).map { $0 as? String }
        let expected = f.object("values")
        let hits = topKHits(labels: labels, scores: scores, k: 3)
        #expect(hits.contains(false) && hits.contains(true))
        for v in ["A", "B", "C"] {
            let e = expected.object(v)
            let rows = groups.indices.filter { groups[$0] == v }
            #expect(rows.count == e.int("group_count") && rows.filter { hits[$0] }.count == e.int("group_hits"))
        }
        let t = groupTable(attribute: "g", groups: groups, labels: labels, scores: scores, highRisk: [], posteriorSeed: 5)
        #expect(t.values == ["A", "B", "C"])
        let post = try #require(t.top3VsOutgroup)
        for (i, v) in t.values.enumerated() { checkAgainstExact(post[i], expected.object(v), "group \(v)") }
        // Group A hits far more often than its outgroup, C far less: the intervals exclude 0 on each side.
        #expect(post[0].lower > 0 && post[2].upper < 0)
    }
}
