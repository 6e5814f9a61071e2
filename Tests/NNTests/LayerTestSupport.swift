import Foundation
import Testing
@testable import NN
import Tensors

/// Helpers shared by the layer tests: random tensors, a naive reference check, gradient-check drivers.
enum LayerTest {
    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var t = GradCheck.direction(shape, seed: seed)
        if scale != 1 { for i in 0..<t.count { t.data[i] *= scale } }
        return t
    }

    /// Largest |a − b| / (atol + rtol·|b|) — ≤ 1 means every element is within tolerance; infinity when
    /// any element of either side is NaN or infinite (`max` would skip a NaN and let it pass).
    static func worst(_ a: Tensor, _ b: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5) -> Float {
        precondition(a.shape == b.shape, "compare \(a.shape) vs \(b.shape)")
        var w: Float = 0
        for i in 0..<a.count {
            guard a.data[i].isFinite && b.data[i].isFinite else { return .infinity }
            w = max(w, abs(a.data[i] - b.data[i]) / (atol + rtol * abs(b.data[i])))
        }
        return w
    }

    /// Gradient check of a one-input layer: input gradient and every parameter gradient.
    static func check(parameters: [Parameter], input x: Tensor, outputShape: [Int],
                      forward: @escaping (Tensor) -> Tensor, backward: (Tensor) -> Tensor,
                      rel: Double = 2e-2, abs: Double = 1e-3, sourceLocation: SourceLocation = #_sourceLocation) {
        let g = GradCheck.direction(outputShape, seed: 77)
        for p in parameters { p.zeroGrad() }
        let y = forward(x)
        #expect(y.shape == outputShape, sourceLocation: sourceLocation)
        let dx = backward(g)
        let rx = GradCheck.compare(input: x, analytic: dx) { GradCheck.probe(forward($0), g) }
        #expect(rx.passes(rel: rel, abs: abs), "input: \(rx)", sourceLocation: sourceLocation)
        for p in parameters {
            let rp = GradCheck.compare(parameter: p) { GradCheck.probe(forward(x), g) }
            #expect(rp.passes(rel: rel, abs: abs), "\(p.name): \(rp)", sourceLocation: sourceLocation)
        }
    }
}
