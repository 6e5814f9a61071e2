import Foundation
import Testing
@testable import Models
import NN
import Tensors

/// Fixture access and comparison for the model tests (fixtures from Tests/Fixtures/torch/make_engine_fixtures.py).
enum ModelFixture {
    static func read(_ name: String) throws -> SafeTensorsFile {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        return try SafeTensors.read(path: url.appendingPathComponent("Fixtures/torch/\(name).safetensors").path)
    }

    /// Largest |a − b| / (1e-5 + 1e-4·|b|): ≤ 1 means within 1e-4 relative or 1e-5 absolute everywhere.
    /// Infinity for a missing or differently shaped `b` and for any NaN or infinite element (`max`
    /// would skip a NaN and let an all-NaN output pass).
    static func worst(_ a: Tensor, _ b: Tensor?) -> Float {
        guard let b, a.shape == b.shape else { return .infinity }
        var w: Float = 0
        for i in 0..<a.count {
            guard a.data[i].isFinite && b.data[i].isFinite else { return .infinity }
            w = max(w, abs(a.data[i] - b.data[i]) / (1e-5 + 1e-4 * abs(b.data[i])))
        }
        return w
    }

    /// Sets parameters from "p.<name without prefix>".
    static func load(_ parameters: [Parameter], from f: SafeTensorsFile, stripping prefix: String) {
        for p in parameters {
            let key = "p." + String(p.name.dropFirst(prefix.count))
            guard let t = f.tensors[key], t.shape == p.shape else { Issue.record("fixture lacks \(key) \(p.shape)"); continue }
            p.value = t
            p.zeroGrad()
        }
    }

    static func expectGrads(_ parameters: [Parameter], in f: SafeTensorsFile, stripping prefix: String) {
        for p in parameters {
            let key = "grad." + String(p.name.dropFirst(prefix.count))
            let w = worst(p.grad, f.tensors[key])
            #expect(w <= 1, "\(key): worst error \(w)× tolerance")
        }
    }

    /// A small seeded tensor.
    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        GradCheck.direction(shape, seed: seed)
    }
}
