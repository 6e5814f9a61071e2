import Foundation
import Testing
@testable import NN
import Tensors

/// Loads a PyTorch parity fixture written by Tests/Fixtures/torch/make_engine_fixtures.py.
struct TorchFixture {
    let file: SafeTensorsFile
    let path: String

    init(_ name: String) throws {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        path = url.appendingPathComponent("Fixtures/torch/\(name).safetensors").path
        file = try SafeTensors.read(path: path)
    }

    subscript(_ key: String) -> Tensor {
        guard let t = file.tensors[key] else { fatalError("\(path): no tensor \(key)") }
        return t
    }

    /// Copies "p.<prefix><name>" into each parameter (names relative to the fixture module).
    func load(_ parameters: [Parameter], stripping prefix: String) {
        for p in parameters {
            let key = "p." + String(p.name.dropFirst(prefix.count))
            let t = self[key]
            precondition(t.shape == p.shape, "\(key): \(t.shape) vs \(p.shape)")
            p.value = t
            p.zeroGrad()
        }
    }

    /// Expects every "grad.<name>" to match the parameter gradient within 1e-4 rel / 1e-5 abs.
    func expectGrads(_ parameters: [Parameter], stripping prefix: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for p in parameters {
            let key = "grad." + String(p.name.dropFirst(prefix.count))
            let w = LayerTest.worst(p.grad, self[key])
            #expect(w <= 1, "\(key): worst error \(w)× tolerance", sourceLocation: sourceLocation)
        }
    }
}
