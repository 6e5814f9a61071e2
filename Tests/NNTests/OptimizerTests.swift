import Foundation
import Testing
@testable import NN
import Tensors

@Suite struct OptimizerTests {
    /// Adam's first bias-corrected step moves every coordinate by lr·g/(|g| + ε) ≈ lr·sign(g).
    @Test func adamFirstStepIsLearningRateTimesSign() {
        let p = Parameter(name: "w", value: Tensor(shape: [4], data: [1, -1, 0.5, 2]))
        p.grad = Tensor(shape: [4], data: [3, -0.001, 1e-3, -50])
        let opt = Adam(parameters: [p], learningRate: 0.1)
        opt.step()
        let expected: [Float] = [0.9, -0.9, 0.4, 2.1]
        for i in 0..<4 { #expect(abs(p.value.data[i] - expected[i]) < 1e-5, "\(i): \(p.value.data[i])") }
        #expect(opt.stepCount == 1)
        #expect(opt.stateTensors().map(\.name) == ["w.exp_avg", "w.exp_avg_sq"])
    }
}
