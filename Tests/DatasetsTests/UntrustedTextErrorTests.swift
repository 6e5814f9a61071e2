import Foundation
import Testing
@testable import Datasets

/// Scalars that must never reach a terminal raw: C0 (with newline), DEL, C1, bidi controls, U+2028/9.
private func rawControls(_ text: String) -> [String] {
    text.unicodeScalars.filter { u in
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029:
            return true
        default: return false
        }
    }.map { "U+" + String($0.value, radix: 16) }
}

/// DatasetError renders every user-supplied part (file, key path, entry and column names, values)
/// with `UntrustedText.terminal` (docs/manifest.md, "Untrusted text").
@Suite struct UntrustedTextErrorTests {
    @Test func manifestKeyWithEscapeSequencesAndBidiIsNotEchoedRaw() throws {
        // YAML double-quoted escapes put ESC, BEL, CSI, RLO and an isolate into a key.
        let yaml = fullManifestYAML + "\n  \"ddpm\\e]0;owned\\a\\e[2J\\u202Egpj.exe\\u2066\": 1\n"
        let error = try #require(manifestError(yaml))
        #expect(error.code == .unknownKey)
        #expect(error.location.unicodeScalars.contains("\u{1B}"))  // the raw key is kept for callers
        let message = error.description
        #expect(rawControls(message) == [], "\(message.debugDescription)")
        #expect(message.contains("pipeline.ddpm\\x1b]0;owned\\x07\\x1b[2J\\u{202E}gpj.exe\\u{2066}: found unknown key"))
        #expect(error.localizedDescription == message)
    }

    @Test func manifestValueAndFileNameWithNewlinesStayOnOneLine() throws {
        let yaml = fullManifestYAML.replacingOccurrences(of: "name: derm-demo", with: "name: \"bad\\nname: forged\\u009b\"")
        let error = try #require(manifestError(yaml, file: "inbox/evil\nfairgen: all good\u{202E}.yaml"))
        let message = error.description
        #expect(rawControls(message) == [] && !message.contains("\n"), "\(message.debugDescription)")
        #expect(message.hasPrefix("inbox/evil\\nfairgen: all good\\u{202E}.yaml: name: found \"bad\\nname: forged\\x9b\""))
    }

    @Test func tableColumnNamesAreEscaped() {
        let e = DatasetError(.missingColumn, file: "drop.tar.gz:meta.csv", location: "header, column \"split\u{1B}[8m\"",
                             found: "no column \"split\u{1B}[8m\"", expected: "a column named in the manifest",
                             column: "split\u{1B}[8m")
        #expect(rawControls(e.description) == [])
        #expect(e.description.contains("split\\x1b[8m"))
    }
}
