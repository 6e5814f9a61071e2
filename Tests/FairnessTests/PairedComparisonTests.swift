import Testing
@testable import Fairness

// Reference values from scipy 1.17 (stats.t.ppf / stats.t.cdf / stats.ttest_rel(...).confidence_interval).

@Test func studentTQuantilesMatchScipy() {
    let reference: [(df: Int, q975: Double, q90: Double)] = [
        (1, 12.706204736174694, 3.0776835371752544), (2, 4.302652729749462, 1.8856180831641272),
        (3, 3.1824463052837078, 1.637744353696209), (4, 2.7764451051977934, 1.533206274058944),
        (5, 2.5705818356363146, 1.4758840488244815), (9, 2.262157162798205, 1.3830287383966329),
        (29, 2.045229642132703, 1.311433647301551), (100, 1.9839715185235518, 1.290074761346516),
    ]
    for r in reference {
        #expect(abs(studentTQuantile(0.975, degreesOfFreedom: r.df) - r.q975) < 1e-9, "df \(r.df)")
        #expect(abs(studentTQuantile(0.9, degreesOfFreedom: r.df) - r.q90) < 1e-9, "df \(r.df)")
        #expect(abs(studentTQuantile(0.025, degreesOfFreedom: r.df) + r.q975) < 1e-9, "df \(r.df)")
    }
    #expect(abs(studentTCDF(-1.3, degreesOfFreedom: 3) - 0.14223375436394853) < 1e-12)
    #expect(abs(studentTCDF(0.7, degreesOfFreedom: 1) - 0.6944001122142147) < 1e-12)
    #expect(abs(studentTCDF(2.5, degreesOfFreedom: 40) - 0.9916898235845104) < 1e-12)
}

@Test func pairedIntervalMatchesScipyAndDecidesTheVerdict() {
    // Every seed improves: the interval lies above 0 → helped.
    let up = pairedDifference([0.50, 0.55, 0.48, 0.61], [0.41, 0.52, 0.40, 0.50])
    #expect(up.n == 4)
    #expect(abs(up.mean! - 0.0775) < 1e-12)
    #expect(abs(up.std! - 0.034034296427770214) < 1e-12)
    #expect(abs(up.lower! - 0.023343839540256095) < 1e-9)
    #expect(abs(up.upper! - 0.1316561604597439) < 1e-9)
    #expect(up.verdict == .helped)
    // Swapped: the same interval mirrored → hurt.
    let down = pairedDifference([0.41, 0.52, 0.40, 0.50], [0.50, 0.55, 0.48, 0.61])
    #expect(down.verdict == .hurt)
    #expect(abs(down.upper! + 0.023343839540256095) < 1e-9)
    // Mean difference 0 with spread: spans 0 → no clear difference (scipy: ±0.3659363355959635).
    let flat = pairedDifference([0.50, 0.35, 0.48], [0.41, 0.52, 0.40])
    #expect(abs(flat.upper! - 0.3659363355959635) < 1e-9)
    #expect(abs(flat.lower! + 0.3659363355959635) < 1e-9)
    #expect(flat.verdict == .noClearDifference)
}

@Test func pairedDifferenceUsesOnlySeedsDefinedOnBothSides() {
    // A large mean gain from one seed is not a result: one defined pair gives no interval.
    let one = pairedDifference([0.9, nil, 0.7], [0.1, 0.5, nil])
    #expect(one.n == 1)
    #expect(one.perSeed == [0.8, nil, nil])
    #expect(abs(one.mean! - 0.8) < 1e-12)
    #expect(one.lower == nil && one.upper == nil)
    #expect(one.verdict == .noClearDifference)
    // Non-finite values count as missing.
    let nan = pairedDifference([.nan, 0.6, 0.7], [0.5, 0.5, 0.5])
    #expect(nan.n == 2 && nan.perSeed[0] == nil)
    #expect(pairedDifference([], []).n == 0)
    // Identical per-seed gains have zero spread: the interval collapses onto a positive mean → helped.
    let constant = pairedDifference([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])
    #expect(constant.verdict == .helped)
}
