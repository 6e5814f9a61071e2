import Testing
@testable import Models
import NN
import Tensors

/// ModelFixture.worst (used by the UNet and ResNet parity tests) must fail on NaN and infinity.
@Suite struct ModelFixtureNonFiniteTests {
    @Test func worstFailsOnAnyNonFiniteElement() {
        let ref = ModelFixture.random([2, 4], seed: 1)
        #expect(ModelFixture.worst(ref, ref) == 0)
        #expect(ModelFixture.worst(Tensor(repeating: .nan, shape: [2, 4]), ref) == .infinity)
        #expect(ModelFixture.worst(ref, Tensor(repeating: .nan, shape: [2, 4])) == .infinity)
        for bad: Float in [.nan, .infinity, -.infinity] {
            var one = ref
            one.data[3] = bad
            #expect(ModelFixture.worst(one, ref) == .infinity, "\(bad)")
        }
        #expect(ModelFixture.worst(ref, nil) == .infinity)
    }
}
