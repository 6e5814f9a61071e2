import Testing

/// `worstError` (the parity comparisons of this target) fails on NaN and infinity wherever they occur.
@Suite struct WorstErrorTests {
    @Test func nonFiniteErrorsAreInfinitelyBad() {
        #expect(worstError([0.5, 2.0, 1.0] as [Double]) == 2)
        #expect(worstError([] as [Float]) == 0)
        #expect(worstError([Float](repeating: .nan, count: 4)) == .infinity)
        #expect(worstError([1.0, .nan, 0.5] as [Double]) == .infinity)   // `max` would report 1.0
        #expect(worstError([Float.infinity]) == .infinity)
        #expect(worstError([0.1, -Float.infinity]) == .infinity)
    }
}
