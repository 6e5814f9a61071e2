import Testing
@testable import NN
import Tensors

/// The checker itself must be able to fail: a right gradient passes, a wrong one does not.
@Suite struct GradCheckTests {
    @Test func acceptsTrueGradientAndRejectsWrongOne() {
        // f(x) = Σ sin(xᵢ)·gᵢ, ∂f/∂xᵢ = cos(xᵢ)·gᵢ
        let x = GradCheck.direction([40], seed: 3)
        let g = GradCheck.direction([40], seed: 4)
        func f(_ t: Tensor) -> Double {
            var s = 0.0
            for i in 0..<t.count { s += Double(Float(Foundation_sin(Double(t.data[i])))) * Double(g.data[i]) }
            return s
        }
        var right = Tensor(zeros: [40]), wrong = Tensor(zeros: [40])
        for i in 0..<40 {
            right.data[i] = Float(Foundation_cos(Double(x.data[i]))) * g.data[i]
            wrong.data[i] = right.data[i] * 1.1
        }
        #expect(GradCheck.compare(input: x, analytic: right, loss: f).passes(rel: 1e-2))
        #expect(!GradCheck.compare(input: x, analytic: wrong, loss: f).passes(rel: 1e-2, abs: 1e-4))
    }
}

#if canImport(Glibc)
import Glibc
private func Foundation_sin(_ x: Double) -> Double { Glibc.sin(x) }
private func Foundation_cos(_ x: Double) -> Double { Glibc.cos(x) }
#endif
