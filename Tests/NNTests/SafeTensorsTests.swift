import Foundation
import Testing
@testable import NN
import Tensors

/// Builds a safetensors byte stream from a literal JSON header and raw data (for malformed-file tests).
func rawSafeTensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = [UInt8]()
    withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
    return out + h + data
}

/// The error a decode throws, or nil when it succeeds.
func decodeError(_ bytes: [UInt8]) -> SafeTensorsError? {
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
