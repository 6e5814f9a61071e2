import Foundation
import Testing
@testable import NN
import Tensors

/// Path of a committed fixture under Tests/Fixtures/torch/.
func trainFixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/torch/\(name)").path
}

/// Reads a committed fixture file.
func trainFixture(_ name: String) throws -> SafeTensorsFile {
    try SafeTensors.read(path: trainFixturePath(name))
}

/// Expects |a − b| ≤ abs or ≤ rel·|b| elementwise (the PyTorch parity tolerance), reporting the worst entry.
func trainExpectClose(_ a: Tensor, _ b: Tensor, abs absTol: Float = 1e-5, rel: Float = 1e-4, _ label: String,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    guard a.count == b.count else {
        Issue.record("\(label): \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
        return
    }
    var worst = -1
    var worstErr: Float = 0
    for i in 0..<a.count {
        let err = Swift.abs(a.data[i] - b.data[i])
        if !(err <= absTol || err <= rel * Swift.abs(b.data[i])) && !(err <= worstErr) { worst = i; worstErr = err }
    }
    #expect(worst < 0, "\(label): worst |Δ| = \(worstErr) at \(worst) (\(worst >= 0 ? a.data[worst] : 0) vs \(worst >= 0 ? b.data[worst] : 0))",
            sourceLocation: sourceLocation)
}

/// Builds a safetensors byte stream from a literal JSON header and raw data (for malformed-file tests).
private func rawSafeTensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = [UInt8]()
    withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
    return out + h + data
}

/// The error a decode throws, or nil when it succeeds.
private func decodeError(_ bytes: [UInt8]) -> SafeTensorsError? {
    do {
        _ = try SafeTensors.decode(bytes, source: "bad.safetensors")
        return nil
    } catch let e as SafeTensorsError {
        return e
    } catch {
        Issue.record("unexpected error type \(error)")
        return nil
    }
}

@Suite struct SafeTensorsTests {
    let a = Tensor(shape: [2, 3], data: [1, -2, 3.5, 0, 1e-30, -7e20])
    let b = Tensor(shape: [4], data: [0.1, 0.2, 0.3, 0.4])
    let scalar = Tensor(shape: [], data: [42])
    let empty = Tensor(zeros: [0, 5])

    @Test func roundTripKeepsValuesShapesOrderAndMetadata() throws {
        let meta = ["config": "{\"lr\": 2e-4, \"name\": \"a\\\"b\"}", "step": "17", "ünï": "côdé\n\t"]
        let bytes = SafeTensors.encode([("z.weight", a), ("a.bias", b), ("s", scalar), ("e", empty)], metadata: meta)
        #expect(bytes.count % 4 == 0)
        let f = try SafeTensors.decode(bytes)
        #expect(f.names == ["z.weight", "a.bias", "s", "e"])
        #expect(f.tensors["z.weight"] == a)
        #expect(f.tensors["a.bias"] == b)
        #expect(f.tensors["s"] == scalar)
        #expect(f.tensors["e"]?.shape == [0, 5])
        #expect(f.metadata == meta)
        #expect(f.dtypes["a.bias"] == "F32")
        // Header length is a multiple of 8 so the F32 data is aligned.
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        #expect(n % 8 == 0)
        #expect(bytes.count == 8 + n + 4 * (6 + 4 + 1))
    }

    @Test func encodingIsDeterministic() {
        let meta = ["b": "2", "a": "1", "c": "3"]
        let x = SafeTensors.encode([("a", a), ("b", b)], metadata: meta)
        let y = SafeTensors.encode([("a", a), ("b", b)], metadata: meta)
        #expect(x == y)
    }

    @Test func fileWriteReadAndOverwriteLeaveNoTemporaries() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ckpt.safetensors").path
        try SafeTensors.write([("a", a)], metadata: ["step": "1"], to: path)
        try SafeTensors.write([("a", a), ("b", b)], metadata: ["step": "2"], to: path)
        let f = try SafeTensors.read(path: path)
        #expect(f.names == ["a", "b"])
        #expect(f.metadata["step"] == "2")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt.safetensors"])
        // Missing file: error names it.
        let missing = dir.appendingPathComponent("nope.safetensors").path
        #expect(throws: SafeTensorsError.self) { try SafeTensors.read(path: missing) }
        do { _ = try SafeTensors.read(path: missing) } catch { #expect("\(error)".contains("nope.safetensors")) }
        // Writing into a missing directory fails cleanly.
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write([("a", a)], to: dir.path + "/no/such/dir/x.safetensors")
        }
    }

    @Test func decodesOtherDtypesToFloat() throws {
        // F64 [1.5, -2], I64 [3, -4], F16 [1, -0.5, 65504, 2^-24], BF16 [1, -2], U8 [0, 255], I32 [-7]
        var data = [UInt8]()
        for v in [1.5, -2.0] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        for v: Int64 in [3, -4] { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
        for h: UInt16 in [0x3C00, 0xB800, 0x7BFF, 0x0001] { withUnsafeBytes(of: h.littleEndian) { data += $0 } }
        for h: UInt16 in [0x3F80, 0xC000] { withUnsafeBytes(of: h.littleEndian) { data += $0 } }
        data += [0, 255]
        withUnsafeBytes(of: Int32(-7).littleEndian) { data += $0 }
        let header = """
        {"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"i":{"dtype":"I64","shape":[2],"data_offsets":[16,32]},\
        "h":{"dtype":"F16","shape":[2,2],"data_offsets":[32,40]},"bf":{"dtype":"BF16","shape":[2],"data_offsets":[40,44]},\
        "u":{"dtype":"U8","shape":[2],"data_offsets":[44,46]},"i32":{"dtype":"I32","shape":[1],"data_offsets":[46,50]}}
        """
        let f = try SafeTensors.decode(rawSafeTensors(header: header, data: data))
        #expect(f.names == ["d", "i", "h", "bf", "u", "i32"])
        #expect(f.tensors["d"]!.data == [1.5, -2])
        #expect(f.tensors["i"]!.data == [3, -4])
        #expect(f.tensors["h"]!.data == [1, -0.5, 65504, 5.9604645e-08])
        #expect(f.tensors["h"]!.shape == [2, 2])
        #expect(f.tensors["bf"]!.data == [1, -2])
        #expect(f.tensors["u"]!.data == [0, 255])
        #expect(f.tensors["i32"]!.data == [-7])
        #expect(f.dtypes["d"] == "F64")
    }

    @Test func malformedFilesFailWithNamedErrors() throws {
        let good = SafeTensors.encode([("w", a), ("b", b)])
        let f4 = [UInt8](repeating: 0, count: 16)
        func expectFailure(_ bytes: [UInt8], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            guard let e = decodeError(bytes) else {
                Issue.record("decode unexpectedly succeeded", sourceLocation: sourceLocation)
                return
            }
            let text = e.description
            #expect(text.contains("bad.safetensors"), sourceLocation: sourceLocation)
            for m in mentions { #expect(text.contains(m), "\(text) should mention \(m)", sourceLocation: sourceLocation) }
        }
        // Truncations anywhere: before the length, inside the header, inside the data.
        expectFailure(Array(good[0..<5]), mentions: ["shorter than"])
        expectFailure(Array(good[0..<20]), mentions: ["past the end"])
        expectFailure(Array(good[0..<(good.count - 3)]), mentions: ["truncated"])
        // Header length beyond the file, and beyond the 100 MB limit.
        expectFailure(rawSafeTensors(header: "{}", data: [], declaredLength: 1000), mentions: ["past the end"])
        expectFailure(rawSafeTensors(header: "{}", data: [], declaredLength: 200_000_000), mentions: ["limit"])
        expectFailure(rawSafeTensors(header: "{}", data: [], declaredLength: UInt64.max), mentions: ["limit"])
        // Not JSON / not an object.
        expectFailure(rawSafeTensors(header: "{\"w\":", data: []), mentions: ["JSON"])
        expectFailure(rawSafeTensors(header: "[1,2]", data: []), mentions: ["'{'"])
        // Offsets out of range, overlapping, with gaps, reversed.
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}}"#, data: f4),
                      mentions: ["'w'", "out of range"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: f4),
                      mentions: ["'v'", "overlap"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: f4),
                      mentions: ["'w'", "gap"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, data: f4),
                      mentions: ["'w'", "out of range"])
        // dtype / shape mismatches.
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, data: f4),
                      mentions: ["'w'", "shape [3]"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F64","shape":[4],"data_offsets":[0,16]}}"#, data: f4),
                      mentions: ["'w'", "F64"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}}"#, data: f4),
                      mentions: ["'w'", "unsupported dtype Q4"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, data: f4),
                      mentions: ["'w'", "shape"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[4]}}"#, data: f4),
                      mentions: ["'w'", "data_offsets"])
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#, data: f4),
                      mentions: ["'w'"])
        // Metadata must be strings.
        expectFailure(rawSafeTensors(header: #"{"__metadata__":{"step":3}}"#, data: []), mentions: ["step"])
        // Trailing bytes after the last tensor.
        expectFailure(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#, data: f4),
                      mentions: ["trailing"])
        // A valid hand-written file decodes (so the failures above are not the harness failing).
        let ok = try SafeTensors.decode(rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, data: f4))
        #expect(ok.tensors["w"] == Tensor(zeros: [2, 2]))
    }
}

/// Interop with the Python `safetensors` package, in both directions.
@Suite struct SafeTensorsInteropTests {
    /// (a) A file written by `safetensors.torch.save_file` (make_train_fixtures.py) decodes with the
    /// right dtypes, shapes, values and metadata; values are closed formulas of the index i = 0..<6.
    @Test func pythonWrittenFileDecodes() throws {
        let f = try trainFixture("train_interop.safetensors")
        let i = (0..<6).map(Float.init)
        #expect(f.metadata["note"] == "written by safetensors.torch")
        #expect(f.metadata["unicode"] == "ünïcødé ✓")
        #expect(f.tensors["f32"] == Tensor(shape: [2, 3], data: i.map { $0 * 0.5 - 1.25 }))
        #expect(f.tensors["f64"]?.shape == [3, 2])
        #expect(f.tensors["f64"]?.data == (0..<6).map { Float(Double($0) / 3.0) })
        #expect(f.tensors["f16"] == Tensor(shape: [6], data: i.map { $0 * 0.25 - 0.5 }))
        #expect(f.tensors["bf16"] == Tensor(shape: [1, 6], data: i.map { $0 * 2 - 3 }))
        #expect(f.tensors["i64"] == Tensor(shape: [6, 1], data: i.map { $0 * 1000 - 2500 }))
        #expect(f.tensors["i32"] == Tensor(shape: [6], data: i.map { $0 - 3 }))
        #expect(f.tensors["u8"] == Tensor(shape: [6], data: i.map { $0 * 50 }))
        #expect(f.tensors["scalar"] == Tensor(shape: [], data: [3.5]))
        #expect(f.tensors["nested.name.weight"] == Tensor(repeating: 1, shape: [2, 2, 2]))
        #expect(f.dtypes["f64"] == "F64" && f.dtypes["bf16"] == "BF16" && f.dtypes["i64"] == "I64")
        #expect(Set(f.names) == Set(f.tensors.keys) && f.names.count == 9)
    }

    /// The tensors of `swift_written.safetensors` (also recomputed by check_swift_written.py).
    static func swiftWrittenContents() -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        let w = Tensor(shape: [2, 3], data: (0..<6).map { Float($0) * 0.5 - 1 })
        let b = Tensor(shape: [4], data: (0..<4).map { 1 / Float($0 + 1) })
        let nested = Tensor(shape: [2, 2, 2, 1], data: (0..<8).map { Float($0 * $0) * 0.01 })
        let special = Tensor(shape: [5], data: [-0.0, 1e-38, Float.greatestFiniteMagnitude, -Float.leastNonzeroMagnitude, 1e-7])
        let tensors: [(name: String, tensor: Tensor)] = [
            ("layer.weight", w), ("layer.bias", b), ("scalar", Tensor(shape: [], data: [-2.5])),
            ("down.0.conv.weight", nested), ("special", special), ("empty", Tensor(zeros: [0, 3])),
        ]
        return (tensors, ["step": "12", "config": "{\"lr\": 0.0002, \"name\": \"a\\\"b\"}", "unicode": "ünï ✓"])
    }

    /// (b) Re-encoding the same tensors reproduces the committed Swift-written file byte for byte, so a
    /// format change fails here; check_swift_written.py asserts Python reads that file correctly.
    /// Regenerate with `FAIRGEN_REGEN_FIXTURES=1 swift test -c release -Xswiftc -enable-testing --filter SafeTensorsInteropTests`.
    @Test func swiftWrittenFileIsByteStable() throws {
        let (tensors, metadata) = Self.swiftWrittenContents()
        let path = trainFixturePath("swift_written.safetensors")
        if ProcessInfo.processInfo.environment["FAIRGEN_REGEN_FIXTURES"] == "1" {
            try SafeTensors.write(tensors, metadata: metadata, to: path)
        }
        let committed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let encoded = SafeTensors.encode(tensors, metadata: metadata)
        #expect(encoded == committed, "encoding changed: \(encoded.count) bytes vs committed \(committed.count)")
        let f = try SafeTensors.decode(committed, source: path)
        #expect(f.names == tensors.map(\.name))
        for (name, t) in tensors {
            #expect(f.tensors[name]?.shape == t.shape, "\(name)")
            #expect(f.tensors[name]?.data.map(\.bitPattern) == t.data.map(\.bitPattern), "\(name)")
        }
        #expect(f.metadata == metadata)
    }
}
