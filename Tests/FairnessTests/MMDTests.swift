import Foundation
import Testing
import Tensors
@testable import Fairness

/// Gaussian features N(shift, I) of shape rows × dimension.
func gaussianFeatures(rows: Int, dimension: Int, shift: Float = 0, seed: UInt64) -> FeatureSet {
    var rng = RNG(seed: seed)
    var v = [Float](repeating: 0, count: rows * dimension)
    v.withUnsafeMutableBufferPointer { rng.fillNormal($0, mean: shift) }
    return FeatureSet(rows: rows, dimension: dimension, values: v)
}

/// Straightforward O(n²) unbiased MMD², all in Double, one kernel evaluation per pair.
func referenceMMD(_ x: FeatureSet, _ y: FeatureSet) -> Double {
    let d = x.dimension
    func k(_ a: FeatureSet, _ i: Int, _ b: FeatureSet, _ j: Int) -> Double {
        var dot = 0.0
        for t in 0..<d { dot += Double(a.values[i * d + t]) * Double(b.values[j * d + t]) }
        return pow(dot / Double(d) + 1, 3)
    }
    var xx = 0.0, yy = 0.0, xy = 0.0
    for i in 0..<x.rows { for j in 0..<x.rows where i != j { xx += k(x, i, x, j) } }
    for i in 0..<y.rows { for j in 0..<y.rows where i != j { yy += k(y, i, y, j) } }
    for i in 0..<x.rows { for j in 0..<y.rows { xy += k(x, i, y, j) } }
    let m = Double(x.rows), n = Double(y.rows)
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)
}

@Suite struct MMDTests {
    @Test func matchesReferenceImplementation() {
        let x = gaussianFeatures(rows: 23, dimension: 8, seed: 1)
        let y = gaussianFeatures(rows: 31, dimension: 8, shift: 0.3, seed: 2)
        let fast = mmdSquared(x, y), slow = referenceMMD(x, y)
        // Gram entries come from Float32 BLAS: agreement to Float precision of the kernel values (~1–10).
        #expect(abs(fast - slow) < 1e-5, "\(fast) vs \(slow)")
        #expect(abs(mmdSquared(x, x) - referenceMMD(x, x)) < 1e-5)
    }

    /// The kernel is scikit-learn's `polynomial_kernel(degree=3, gamma=1/d, coef0=1)`, i.e. (xᵀy/d + 1)³,
    /// with the unbiased estimator (diagonals left out). Features are multiples of 1/64 small enough that
    /// every Float32 dot product is exact, so only Double rounding of the sums remains.
    @Test func matchesScikitLearnPolynomialKernel() throws {
        let cases = try Fixture.json("mmd.json") as! [[String: Any]]
        #expect(cases.count == 3)
        for c in cases {
            let d = c.int("dim")
            let x = FeatureSet(rows: c.int("rows_x"), dimension: d, values: c.doubles("x").map(Float.init))
            let y = FeatureSet(rows: c.int("rows_y"), dimension: d, values: c.doubles("y").map(Float.init))
            let expected = c.optionalDouble("mmd2")!
            expectClose(mmdSquared(x, y), expected, 1e-12 * max(1, abs(expected)) + 1e-12, "MMD² d=\(d)")
        }
    }

    @Test func handComputedOneDimensional() {
        // d = 1, X = {0, 1}, Y = {1, 2}: k(a,b) = (ab + 1)³.
        // Σ_{i≠j} Kxx = 2·k(0,1) = 2; Σ_{i≠j} Kyy = 2·k(1,2) = 54; Σ Kxy = k(0,1)+k(0,2)+k(1,1)+k(1,2) = 1+1+8+27.
        let x = FeatureSet(rows: 2, dimension: 1, values: [0, 1])
        let y = FeatureSet(rows: 2, dimension: 1, values: [1, 2])
        #expect(abs(mmdSquared(x, y) - (2.0 / 2 + 54.0 / 2 - 2 * 37.0 / 4)) < 1e-12)
    }

    @Test func sameDistributionNearZeroShiftedClearlyPositive() {
        let a = gaussianFeatures(rows: 900, dimension: 16, seed: 3)
        let b = gaussianFeatures(rows: 900, dimension: 16, seed: 4)
        let c = gaussianFeatures(rows: 900, dimension: 16, shift: 0.5, seed: 5)
        let same = mmdEstimates(a, b, seed: 7), shifted = mmdEstimates(a, c, seed: 7)
        #expect(same.estimates.count == 30 && same.sampleSizeX == 300 && same.sampleSizeY == 300)
        // Unbiased: under the null the estimates scatter around 0.
        #expect(abs(same.mean) < 3 * same.std / (30.0).squareRoot() + 1e-4, "same \(same.mean) ± \(same.std)")
        // A 0.5 shift in every coordinate changes the first moment: MMD² sits far above the null spread.
        #expect(shifted.mean > 0.05 && shifted.mean > same.mean + 10 * same.std, "shifted \(shifted.mean)")
        let test = mannWhitneyU(same.estimates, shifted.estimates)
        #expect(test.p < 1e-6 && test.u == 0)
        // Deterministic from the seed; another seed draws other subsamples.
        #expect(mmdEstimates(a, b, seed: 7) == same)
        #expect(mmdEstimates(a, b, seed: 8).estimates != same.estimates)
    }

    @Test func smallSetsAreUsedWhole() {
        let x = gaussianFeatures(rows: 40, dimension: 4, seed: 1)
        let y = gaussianFeatures(rows: 50, dimension: 4, seed: 2)
        let e = mmdEstimates(x, y, sampleSize: 300, repeats: 3, seed: 1)
        #expect(e.sampleSizeX == 40 && e.sampleSizeY == 50)
        // All rows every time (order differs): the estimates agree up to summation order.
        #expect(abs(e.estimates[0] - e.estimates[2]) < 1e-9)
        #expect(abs(e.estimates[0] - mmdSquared(x, y)) < 1e-9)
    }

    @Test func sampleWithoutReplacementIsDistinct() {
        var rng = RNG(seed: 3)
        let s = sampleWithoutReplacement(count: 300, from: 1000, &rng)
        #expect(Set(s).count == 300 && s.allSatisfy { (0..<1000).contains($0) })
    }
}

@Suite struct MannWhitneyTests {
    @Test func matchesScipyAsymptoticWithTies() throws {
        let cases = try Fixture.json("mannwhitney.json") as! [[String: Any]]
        #expect(cases.count == 5)
        for c in cases {
            let r = mannWhitneyU(c.doubles("x"), c.doubles("y"))
            expectClose(r.u, c.optionalDouble("u"), 1e-9, "U")
            expectClose(r.p, c.optionalDouble("p"), 1e-12, "p")
        }
    }

    @Test func handComputed() {
        // x entirely below y: U₁ = 0; U = 9, σ² = 9/12 · 7, z = (9 − 4.5 − 0.5)/σ.
        let r = mannWhitneyU([1, 2, 3], [4, 5, 6])
        #expect(r.u == 0)
        let z = 4 / (9.0 / 12 * 7).squareRoot()
        #expect(abs(r.p - erfc(z / 2.0.squareRoot())) < 1e-15)
        #expect(mannWhitneyU([4, 5, 6], [1, 2, 3]).u == 9)
        #expect(mannWhitneyU([1, 1], [1, 1, 1]).p == 1)       // everything tied
        let ranks = averageRanks([3, 1, 3, 2])
        #expect(ranks.ranks == [3.5, 1, 3.5, 2] && ranks.tieTerm == 6)
    }
}
