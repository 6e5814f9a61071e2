import Foundation
import Testing
@testable import Text

/// Scalars no rendered text may contain raw: C0 (with tab/CR/LF), DEL, C1, bidi controls, U+2028/9.
private func unsafeScalars(in text: String) -> [UInt32] {
    text.unicodeScalars.filter(UntrustedText.isUnsafeForTerminal).map(\.value)
}

/// Every scalar value 0…0x10FFFF except surrogates, sampled: all of the first 0x3000 (controls, C1,
/// Latin, the bidi and separator block U+2000–U+206F), every BMP scalar up to U+FFFF in steps of 7,
/// every 997th above, and the last one.
private let sampledScalars: [Unicode.Scalar] = {
    var values = Array(0..<0x3000) + Array(stride(from: 0x3000, to: 0x10000, by: 7))
        + Array(stride(from: 0x10000, through: 0x10FFFF, by: 997)) + [0xFFFD, 0xFEFF, 0x10FFFF]
    values.removeAll { (0xD800...0xDFFF).contains($0) }
    return values.compactMap { Unicode.Scalar(UInt32($0)) }
}()

@Suite struct UntrustedTextTests {
    @Test func terminalMakesControlsBidiAndSeparatorsVisible() {
        let attack = "a\u{1B}]0;owned\u{07}b\u{1B}[2Jc\u{9B}31md\u{7F}e\u{202E}fdp.exe\u{2066}g\u{200F}h\u{061C}i\u{2028}j\u{2029}k\nl\rm\tn\u{0}"
        let out = UntrustedText.terminal(attack)
        #expect(unsafeScalars(in: out).isEmpty)
        #expect(out == "a\\x1b]0;owned\\x07b\\x1b[2Jc\\x9b31md\\x7fe\\u{202E}fdp.exe\\u{2066}g\\u{200F}h\\u{061C}i\\u{2028}j\\u{2029}k\\nl\\rm\\tn\\x00")
    }

    @Test func terminalKeepsOrdinaryTextAndIsIdempotent() {
        for text in ["melanoma", "skin_tone=V–VI, α = 0.50 → helped", "Ünïcödé 皮肤 🙂", "back\\slash \"quoted\""] {
            #expect(UntrustedText.terminal(text) == text)
        }
        for scalar in sampledScalars {
            let once = UntrustedText.terminal("x" + String(Character(scalar)) + "y")
            #expect(unsafeScalars(in: once).isEmpty, "U+\(String(scalar.value, radix: 16)) survived")
            #expect(UntrustedText.terminal(once) == once)
        }
    }

    @Test func quotedEscapesQuotesAndTruncates() {
        #expect(UntrustedText.quoted("a\"b\\c\u{1B}") == "\"a\\\"b\\\\c\\x1b\"")
        let long = String(repeating: "x", count: 200)
        #expect(UntrustedText.quoted(long) == "\"" + String(repeating: "x", count: 120) + "…\"")
    }

    @Test func htmlEscapesMarkupAndMakesBidiVisible() {
        #expect(UntrustedText.html("<script>alert('x&y')</script> \"q\"")
                == "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt; &quot;q&quot;")
        #expect(UntrustedText.html("a\u{202E}b\u{1B}") == "a\\u{202E}b\\x1b")
        #expect(UntrustedText.html("plain text, α–ω") == "plain text, α–ω")
    }

    @Test func jsonStringRoundTripsEverySampledScalar() throws {
        // One string with every sampled scalar, and each scalar alone (so a bad escape is pinpointed).
        let all = String(String.UnicodeScalarView(sampledScalars))
        let singles = sampledScalars.map { "k" + String(Character($0)) + "\"\\/" }
        for text in [all, ""] + singles {
            let literal = UntrustedText.jsonString(text)
            #expect(unsafeScalars(in: literal).isEmpty, "raw control in \(literal.debugDescription)")
            let data = Data(literal.utf8)
            let viaSerialization = try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed) as? String
            #expect(viaSerialization == text)
            #expect(try JSONDecoder().decode(String.self, from: data) == text)
        }
    }

    @Test func jsonStringIsUnchangedForPlainAsciiAndUsesShortForms() {
        // Canonical JSON (stage keys, object ids) and safetensors headers of ordinary names must not change.
        #expect(UntrustedText.jsonString("conv1.weight") == "\"conv1.weight\"")
        #expect(UntrustedText.jsonString("a/b c-d_e") == "\"a/b c-d_e\"")
        #expect(UntrustedText.jsonString("q\"\\\n\r\t\u{08}\u{0C}") == "\"q\\\"\\\\\\n\\r\\t\\b\\f\"")
        #expect(UntrustedText.jsonString("\u{1B}\u{7F}\u{85}\u{202E}\u{2028}é") == "\"\\u001b\\u007f\\u0085\\u202e\\u2028é\"")
    }
}
