import Foundation
import Testing
@testable import Store

/// Canonical JSON strings use the project's one escaper (`UntrustedText.jsonString`).
@Suite struct CanonicalJSONEscapingTests {
    @Test func controlsBidiAndSeparatorsAreEscapedAndRoundTrip() throws {
        let key = "class\u{202E}gpj.exe\u{9B}\u{7F}\u{2029}"
        let value = JSONValue.object([key: .string("a\u{1B}]0;t\u{07}b\u{2067}")])
        let text = try CanonicalJSON.encode(value)
        #expect(text == #"{"class\u202egpj.exe\u009b\u007f\u2029":"a\u001b]0;t\u0007b\u2067"}"#)
        #expect(try JSONValue.parse(Array(text.utf8)) == value)
    }

    @Test func ordinaryStringsKeepTheirCanonicalBytes() throws {
        // Stage keys and object ids hash these bytes: plain names and the short escapes must not change.
        let value = JSONValue.object(["name": .string("derm-demo"), "cond": .array([.string("label"), .string("skin_tone")]),
                                      "odd": .string("q\"\\\n\t\u{08}\u{0C}é/")])
        #expect(try CanonicalJSON.encode(value)
                == #"{"cond":["label","skin_tone"],"name":"derm-demo","odd":"q\"\\\n\t\b\fé/"}"#)
    }
}
