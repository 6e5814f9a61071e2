import Testing
@testable import Tensors

/// The image-op parity helper must fail on NaN and infinity (before, `d > tol` was false for a NaN `d`,
/// so an all-NaN resize passed).
@Suite struct ImageOpsComparisonTests {
    @Test func maxRelativeErrorFailsOnNonFinite() {
        let ref = Tensor(shape: [2, 3], data: [0, 1, -2, 3.5, 4, 5])
        #expect(maxRelativeError(ref, ref) == (0, true))
        let allNaN = maxRelativeError(Tensor(repeating: .nan, shape: [2, 3]), ref)
        #expect(!allNaN.ok && allNaN.worst == .infinity)
        for bad: Float in [.nan, .infinity, -.infinity] {
            var one = ref
            one.data[2] = bad
            #expect(!maxRelativeError(one, ref).ok, "\(bad)")
            #expect(!maxRelativeError(ref, one).ok, "\(bad)")
        }
    }
}
