import Foundation
import Testing
@testable import NN
import Tensors

@Suite struct LossTests {
    @Test func mseValueAndGradient() {
        let p = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        let t = Tensor(shape: [2, 2], data: [0, 2, 5, 4.5])
        let (loss, grad) = Losses.mse(p, t)
        #expect(abs(loss - (1 + 0 + 4 + 0.25) / 4) < 1e-7)
        #expect(grad.data == [0.5, 0, -1, -0.25])
        let check = GradCheck.compare(input: p, analytic: grad) { Double(Losses.mse($0, t).loss) }
        #expect(check.passes(rel: 1e-3, abs: 1e-5), "\(check)")
    }
}
