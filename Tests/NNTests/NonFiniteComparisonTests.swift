import Testing
@testable import NN
import Tensors

/// The comparison helpers must fail on any NaN or infinity: `max(w, e)` skips a NaN, so before this an
/// all-NaN layer output or gradient passed every parity and gradient check.
@Suite struct NonFiniteComparisonTests {
    static let reference = GradCheck.direction([3, 5], seed: 1)

    @Test func layerWorstFailsOnNaNAndInfinity() {
        #expect(LayerTest.worst(Self.reference, Self.reference) == 0)
        let allNaN = Tensor(repeating: .nan, shape: [3, 5])
        #expect(LayerTest.worst(allNaN, Self.reference) == .infinity)
        #expect(LayerTest.worst(Self.reference, allNaN) == .infinity)
        for bad: Float in [.nan, .infinity, -.infinity] {
            var one = Self.reference
            one.data[7] = bad   // a single bad element in the middle, finite ones after it
            #expect(LayerTest.worst(one, Self.reference) == .infinity, "\(bad)")
        }
    }

    /// f(x) = Σ xᵢ²·gᵢ with an all-NaN "analytic" gradient, and with a loss that returns NaN.
    @Test func gradCheckFailsOnNaN() {
        let x = GradCheck.direction([20], seed: 3), g = GradCheck.direction([20], seed: 4)
        func loss(_ t: Tensor) -> Double { (0..<t.count).reduce(0.0) { $0 + Double(t.data[$1] * t.data[$1]) * Double(g.data[$1]) } }
        var right = Tensor(zeros: [20])
        for i in 0..<20 { right.data[i] = 2 * x.data[i] * g.data[i] }
        #expect(GradCheck.compare(input: x, analytic: right, loss: loss).passes())

        let nanGrad = GradCheck.compare(input: x, analytic: Tensor(repeating: .nan, shape: [20]), loss: loss)
        #expect(!nanGrad.passes())
        #expect(nanGrad.nonFinite == 20 && nanGrad.description.contains("not finite"))

        var oneNaN = right
        oneNaN.data[0] = .nan
        #expect(!GradCheck.compare(input: x, analytic: oneNaN, loss: loss).passes())

        let nanLoss = GradCheck.compare(input: x, analytic: right) { _ in .nan }
        #expect(!nanLoss.passes() && nanLoss.nonFinite == 20)

        // The parameter path goes through the same loop.
        let p = Parameter(name: "w", value: x)
        p.grad = Tensor(repeating: .nan, shape: [20])
        #expect(!GradCheck.compare(parameter: p) { loss(p.value) }.passes())
    }
}
