import Foundation
import Testing
@testable import Fairness

/// Scalars that must never reach a terminal raw: C0 (with newline), DEL, C1, bidi controls, U+2028/9.
private func rawControls(_ text: String) -> [String] {
    text.unicodeScalars.filter { u in
        switch u.value {
        case 0x00...0x09, 0x0B...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029:
            return true
        default: return false
        }
    }.map { "U+" + String($0.value, radix: 16) }
}

/// `fairgen metrics` and its library: header cells, labels and group values from the CSV are never
/// echoed with raw ESC/OSC/C1 or bidi bytes (docs/manifest.md, "Untrusted text").
@Suite(.serialized) struct UntrustedTextMetricsTests {
    func temporaryCSV(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "fairgen-untrusted-\(UUID().uuidString).csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func csvHeaderWithEscapeSequencesIsEscapedOnStderr() throws {
        let evilColumn = "site\u{1B}]0;pwned\u{07}\u{1B}[2J\u{202E}txt.exe"
        let path = try temporaryCSV("label,score_a,score_b,\(evilColumn)\na,0.9,0.1,x\nb,0.2,0.8,y\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runFairgen(["metrics", path, "--group", "nosuch"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("missing column 'nosuch'"))
        #expect(r.stderr.contains("site\\x1b]0;pwned\\x07\\x1b[2J\\u{202E}txt.exe"), "stderr: \(r.stderr)")
        // One line, and nothing a terminal would interpret.
        #expect(rawControls(r.stderr) == [])
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func unknownLabelCellIsEscapedInTheLibraryMessage() {
        let text = "label,score_a,score_b\na,0.9,0.1\n\"b\u{9B}31m\nforged line\u{2066}\",0.2,0.8\n"
        #expect(throws: PredictionsCSVError.self) {
            try parsePredictions(text: text, file: "p\u{1B}.csv", groupColumns: [])
        }
        do {
            _ = try parsePredictions(text: text, file: "p\u{1B}.csv", groupColumns: [])
        } catch {
            let message = (error as! PredictionsCSVError).message
            #expect(rawControls(message) == [] && !message.contains("\n"), "\(message.debugDescription)")
            #expect(message.contains("unknown label 'b\\x9b31m\\nforged line\\u{2066}'"))
        }
    }

    @Test func groupValuesAndClassNamesInPrintedJSONAreEscapedAndRoundTrip() throws {
        let rtl = "\u{202E}light", c1 = "dark\u{9B}2J", cls = "mel\u{2028}anoma"
        var csv = "label,score_benign,score_\(cls),tone\n"
        let rows: [(String, Double, String)] = [("benign", 0.8, rtl), (cls, 0.3, rtl), ("benign", 0.6, c1), (cls, 0.1, c1),
                                                ("benign", 0.4, rtl), (cls, 0.7, c1)]
        for (label, p, tone) in rows { csv += "\(label),\(p),\(1 - p),\(tone)\n" }
        let path = try temporaryCSV(csv)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runFairgen(["metrics", path, "--group", "tone"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(rawControls(r.stdout.replacingOccurrences(of: "\n", with: "")) == [])
        #expect(r.stdout.contains("\\u202elight") && r.stdout.contains("dark\\u009b2J"))
        let printed = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let values = ((printed["by_group"] as! [String: Any])["tone"] as! [String: Any])["values"] as! [String: Any]
        #expect(Set(values.keys) == [rtl, c1])
    }

    @Test func jsonValueWriterEscapesControlsBidiAndSeparators() throws {
        let v = JSONValue.fields(["k\u{202E}": .string("a\u{1B}b\u{85}c\u{2029}d\u{7F}")])
        let text = v.serialized(indent: nil)
        #expect(text == #"{"k\u202e":"a\u001bb\u0085c\u2029d\u007f"}"#)
        let back = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: String]
        #expect(back == ["k\u{202E}": "a\u{1B}b\u{85}c\u{2029}d\u{7F}"])
    }
}
