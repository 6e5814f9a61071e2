import Foundation
import Testing
@testable import NN
import Tensors

/// The safetensors header is JSON written by the project's one escaper (`UntrustedText.jsonString`).
@Suite struct SafeTensorsHeaderEscapingTests {
    @Test func namesWithControlsAndBidiAreEscapedInTheHeaderAndRoundTrip() throws {
        let t = Tensor(shape: [2], data: [1, 2])
        let name = "head\u{202E}lmth.exe\u{9B}2J\u{7F}\u{2028}"
        let meta = ["note\u{1B}]0;x\u{07}": "v\u{2066}\u{85}"]
        let bytes = SafeTensors.encode([(name, t)], metadata: meta)
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        for raw: Unicode.Scalar in ["\u{202E}", "\u{9B}", "\u{7F}", "\u{2028}", "\u{1B}", "\u{07}", "\u{2066}", "\u{85}"] {
            #expect(!header.unicodeScalars.contains(raw), "raw U+\(String(raw.value, radix: 16)) in the header")
        }
        #expect(header.contains("\\u202e") && header.contains("\\u009b"))
        let f = try SafeTensors.decode(bytes)
        #expect(f.names == [name] && f.tensors[name] == t && f.metadata == meta)
    }

    @Test func plainNamesGiveTheSameHeaderBytesAsBefore() {
        // Byte-for-byte what the old escaper wrote for ASCII names (checkpoints and their hashes stay valid).
        let bytes = SafeTensors.encode([("conv1.weight", Tensor(shape: [1], data: [0]))], metadata: ["step": "3"])
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        #expect(header == #"{"__metadata__":{"step":"3"},"conv1.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#)
    }
}
