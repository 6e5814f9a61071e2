import Testing
@testable import NN
import Tensors

@Suite struct ReLUTests {
    /// Inputs kept at least 0.05 away from the kink so central differences (ε = 1e-2) stay on one side.
    func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
        var x = NormTest.random(shape, seed: seed)
        for i in 0..<x.count where abs(x.data[i]) < 0.05 { x.data[i] = x.data[i] < 0 ? -0.05 : 0.05 }
        return x
    }

    @Test func gradientCheck() {
        let act = ReLU()
        let x = awayFromZero([2, 3, 5, 5], seed: 21)
        NormTest.check(parameters: [], input: x, forward: { act.forward($0) }, backward: { act.backward($0) })
    }

    @Test func valuesAndMask() {
        let x = Tensor(shape: [5], data: [-2, -0.0, 0, 0.5, 3])
        let act = ReLU()
        #expect(act.forward(x).data == [0, 0, 0, 0.5, 3])
        // PyTorch passes no gradient at exactly 0.
        #expect(act.backward(Tensor(repeating: 1, shape: [5])).data == [0, 0, 0, 1, 1])
    }

    @Test func addReLUGradientCheck() {
        let a = awayFromZero([2, 2, 4, 4], seed: 22)
        let b = NormTest.random([2, 2, 4, 4], seed: 23, scale: 0.01)
        var out = Tensor(zeros: [0])
        NormTest.check(parameters: [], input: a,
                       forward: { var s = $0; addReLU(into: &s, b); out = s; return s },
                       backward: { reluBackward(output: out, dy: $0) })
        var s = a
        addReLU(into: &s, b)
        for i in 0..<s.count { #expect(s.data[i] == max(a.data[i] + b.data[i], 0)) }
    }
}
