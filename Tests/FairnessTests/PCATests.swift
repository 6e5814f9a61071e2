import Foundation
import Testing
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
