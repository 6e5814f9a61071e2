import Foundation
import Testing
import Tensors
@testable import Fairness

@Suite struct PCATests {
    @Test func jacobiEigenvaluesOfKnownMatrices() {
        // [[2,1],[1,2]] has eigenvalues 3 and 1; a diagonal matrix is already solved.
        #expect(symmetricEigenvalues([2, 1, 1, 2], size: 2).sorted().map { ($0 * 1e12).rounded() / 1e12 } == [1, 3])
        #expect(symmetricEigenvalues([5, 0, 0, 0, 7, 0, 0, 0, 1], size: 3) == [5, 7, 1])
        // Tridiagonal [[2,-1,0],[-1,2,-1],[0,-1,2]]: 2 − √2, 2, 2 + √2.
        let e = symmetricEigenvalues([2, -1, 0, -1, 2, -1, 0, -1, 2], size: 3).sorted()
        #expect(abs(e[0] - (2 - 2.0.squareRoot())) < 1e-14 && abs(e[1] - 2) < 1e-14 && abs(e[2] - (2 + 2.0.squareRoot())) < 1e-14)
    }

    @Test func householderQLMatchesJacobiReference() {
        var rng = RNG(seed: 5)
        for n in [1, 2, 3, 7, 40] {
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in i..<n { let v = rng.uniformDouble() * 2 - 1; a[i * n + j] = v; a[j * n + i] = v } }
            let fast = symmetricEigenvalues(a, size: n).sorted(), slow = jacobiEigenvalues(a, size: n).sorted()
            for (x, y) in zip(fast, slow) { #expect(abs(x - y) < 1e-12, "n=\(n): \(x) vs \(y)") }
        }
        // Repeated eigenvalues and an already tridiagonal/diagonal input.
        let diag = symmetricEigenvalues([4, 0, 0, 0, 4, 0, 0, 0, 4], size: 3)
        #expect(diag == [4, 4, 4])
    }

    @Test func eigenvaluesAndCountsMatchNumpy() throws {
        let cases = try Fixture.json("pca.json") as! [[String: Any]]
        #expect(cases.count == 3)
        for c in cases {
            let n = c.int("rows"), d = c.int("dim"), scale = Float(c.int("scale"))
            let features = FeatureSet(rows: n, dimension: d, values: c.ints("quantized").map { Float($0) / scale })
            let ours = covarianceEigenvalues(features)
            let numpy = c.doubles("eigenvalues")
            #expect(ours.count == min(n, d))
            let top = numpy[0]
            for (a, b) in zip(ours, numpy) { #expect(abs(a - b) <= 1e-9 * top, "eigenvalue \(a) vs \(b) (n=\(n), d=\(d))") }
            for (fraction, count) in c.object("counts") {
                #expect(principalComponentCount(features, fraction: Double(fraction)!) == (count as! NSNumber).intValue,
                        "fraction \(fraction), n=\(n), d=\(d)")
            }
        }
    }

    @Test func edgeCases() {
        // Rank-one data: every point on a line → one component holds all variance.
        let line = FeatureSet(rows: 5, dimension: 3, values: (0..<5).flatMap { i in [Float(i), Float(2 * i), Float(-i)] })
        #expect(principalComponentCount(line) == 1)
        // No variance at all.
        #expect(principalComponentCount(FeatureSet(rows: 4, dimension: 2, values: Array(repeating: 1, count: 8))) == 0)
        // Isotropic 2-D: need both components for 90 %.
        let square = FeatureSet(rows: 4, dimension: 2, values: [1, 0, -1, 0, 0, 1, 0, -1])
        #expect(principalComponentCount(square, fraction: 0.9) == 2)
        #expect(principalComponentCount(square, fraction: 0.5) == 1)
    }
}

/// Reference for the library's Householder + QL eigenvalues: a straightforward, independent method.
/// Eigenvalues of the symmetric `size` × `size` matrix `a` (row-major) by cyclic Jacobi rotations, each
/// zeroing one off-diagonal pair (Golub & Van Loan §8.5), until the off-diagonal mass is below
/// 1e-28 of the total or 60 sweeps have run. Returned in diagonal order (unsorted).
func jacobiEigenvalues(_ matrix: [Double], size n: Int, maxSweeps: Int = 60) -> [Double] {
    precondition(matrix.count == n * n)
    var a = matrix
    var total = 0.0
    for v in a { total += v * v }
    if total == 0 { return [Double](repeating: 0, count: n) }
    a.withUnsafeMutableBufferPointer { m in
        let p0 = m.baseAddress!
        for _ in 0..<maxSweeps {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += p0[p * n + q] * p0[p * n + q] } }
            if off <= 1e-28 * total { break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = p0[p &* n &+ q]
                    if apq == 0 { continue }
                    let app = p0[p &* n &+ p], aqq = p0[q &* n &+ q]
                    // Rotation angle: tan(θ) = t chosen as the smaller root of t² + 2τt − 1 = 0.
                    let tau = (aqq - app) / (2 * apq)
                    let t = (tau >= 0 ? 1 : -1) / (abs(tau) + (1 + tau * tau).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = t * c
                    // A ← Jᵀ A J: rows p, q then columns p, q (the matrix stays symmetric).
                    let rp = p0 + p &* n, rq = p0 + q &* n
                    for k in 0..<n {
                        let x = rp[k], y = rq[k]
                        rp[k] = c * x - s * y
                        rq[k] = s * x + c * y
                    }
                    for k in 0..<n {
                        let x = p0[k &* n &+ p], y = p0[k &* n &+ q]
                        p0[k &* n &+ p] = c * x - s * y
                        p0[k &* n &+ q] = s * x + c * y
                    }
                    p0[p &* n &+ q] = 0; p0[q &* n &+ p] = 0
                }
            }
        }
    }
    return (0..<n).map { a[$0 * n + $0] }
}
