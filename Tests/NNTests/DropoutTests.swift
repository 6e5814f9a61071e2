import Foundation
import Testing
@testable import NN
import Tensors

@Suite struct DropoutTests {
    @Test func trainingDropsAtRateAndScalesKeptValues() {
        var rng = RNG(seed: 7)
        let d = Dropout(p: 0.3, rng: &rng)
        let x = Tensor(repeating: 2, shape: [4, 8, 32, 32])
        let y = d.forward(x)
        let kept = y.data.filter { $0 != 0 }
        let rate = 1 - Double(kept.count) / Double(y.count)
        #expect(abs(rate - 0.3) < 0.01, "drop rate \(rate)")
        #expect(kept.allSatisfy { abs($0 - 2 / 0.7) < 1e-6 })
        // The mean is preserved in expectation (inverted dropout).
        let mean = y.data.reduce(0.0) { $0 + Double($1) } / Double(y.count)
        #expect(abs(mean - 2) < 0.03)
        // Backward uses the same cached mask.
        let dy = GradCheck.direction(x.shape, seed: 3)
        let dx = d.backward(dy)
        for i in stride(from: 0, to: x.count, by: 97) { #expect(dx.data[i] == dy.data[i] * y.data[i] / 2) }
        // A second forward draws a new mask.
        #expect(d.forward(x) != y)
    }

    @Test func evalIsIdentityAndSeedsReproduceAcrossThreadCounts() {
        var r1 = RNG(seed: 11), r2 = RNG(seed: 11)
        let a = Dropout(p: 0.5, rng: &r1), b = Dropout(p: 0.5, rng: &r2)
        let x = GradCheck.direction([3, 50_000], seed: 9)
        // ThreadScope: other tests change the global thread count too; without the lock they could
        // turn this into a 2-vs-2 comparison.
        let ya = ThreadScope.with(threads: 1) { a.forward(x) }
        let yb = ThreadScope.with(threads: 2) { b.forward(x) }
        #expect(ya == yb)
        #expect(r1 == r2)
        a.training = false
        #expect(a.forward(x) == x)
        #expect(a.backward(x) == x)
        let dy = GradCheck.direction([3, 50_000], seed: 10)
        // eval backward is the identity too; a fresh layer with p = 0 never drops
        var r3 = RNG(seed: 1)
        let z = Dropout(p: 0, rng: &r3)
        #expect(z.forward(x) == x && z.backward(dy) == dy)
    }
}
