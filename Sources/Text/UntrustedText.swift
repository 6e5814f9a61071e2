// The one place that renders untrusted text (manifest keys and values, CSV headers and cells, class and
// attribute names, file and archive entry names) for each sink: a terminal or log line, an HTML page,
// a JSON string. docs/manifest.md ("Untrusted text") states the rules.

/// Renders text that came from a user's files for a terminal/log line, HTML, or JSON.
///
/// A crafted drop must not be able to clear the operator's screen or set its title (ESC/OSC/CSI and
/// the C1 controls), hide or reorder text (bidi overrides and isolates), or forge a second log line
/// (newline, CR, line/paragraph separators). Every echo of user data goes through one of these.
public enum UntrustedText {
    // MARK: terminal and log lines

    /// `text` for one terminal or log line: every C0 control (including tab, CR and newline), DEL,
    /// C1 control, bidi control and line/paragraph separator becomes a visible escape (`\n`, `\t`,
    /// `\r`, `\x1b`, `\u{202E}`); everything else stays as is.
    ///
    /// Backslashes are *not* escaped, so the function is idempotent (`terminal(terminal(s)) ==
    /// terminal(s)`) and sinks may apply it again to text that was already rendered; the price is that
    /// a literal `\x1b` in the input reads the same as an escaped ESC, which is harmless.
    public static func terminal(_ text: String) -> String {
        // Fast path: most text (numbers, ASCII names) has nothing to escape.
        if !text.unicodeScalars.contains(where: isUnsafeForTerminal) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for u in text.unicodeScalars {
            if isUnsafeForTerminal(u) { out += visibleEscape(u) } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// `text` for an error message: terminal-safe, in double quotes with `"` and `\` escaped, and cut
    /// after `limit` scalars (marked with `…`), so a huge cell cannot flood a log line.
    public static func quoted(_ text: String, limit: Int = 120) -> String {
        var out = "\""
        for u in text.unicodeScalars.prefix(limit) {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if isUnsafeForTerminal(u) { out += visibleEscape(u) } else { out.unicodeScalars.append(u) }
            }
        }
        if text.unicodeScalars.count > limit { out += "…" }
        return out + "\""
    }

    /// True for scalars that `terminal` escapes: C0 controls, DEL, C1 controls, bidi controls
    /// (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069) and U+2028/U+2029.
    public static func isUnsafeForTerminal(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        default: return isBidiOrSeparator(u)
        }
    }

    static func isBidiOrSeparator(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func visibleEscape(_ u: Unicode.Scalar) -> String {
        switch u {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            if u.value <= 0xFF { return "\\x" + hex(u.value, digits: 2) }
            return "\\u{" + hex(u.value, digits: 4).uppercased() + "}"
        }
    }

    // MARK: HTML

    /// `text` for HTML text content and quoted attribute values: `& < > " '` become entities, and the
    /// scalars `terminal` escapes become the same visible escapes (`\u{202E}`), because a bidi override
    /// in a class name would otherwise reorder the text around it on the page.
    public static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if isUnsafeForTerminal(c) { out += visibleEscape(c) } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    // MARK: JSON

    /// `text` as a JSON string literal, quotes included (RFC 8259). `"` and `\` are escaped; `\b \f
    /// \n \r \t` use their short forms; other C0 controls, DEL, C1 controls, bidi controls and
    /// U+2028/U+2029 become `\u00XX`/`\uXXXX` (lower-case hex), so a JSON file is safe to `cat`;
    /// everything else is raw UTF-8. For ASCII text without controls the output is the text in
    /// quotes, which keeps canonical JSON (stage keys, object ids) and safetensors headers stable.
    public static func jsonString(_ text: String) -> String {
        var out = ""
        appendJSONString(text, to: &out)
        return out
    }

    /// `jsonString(text)` appended to `out` (for writers that build a document in one string).
    public static func appendJSONString(_ text: String, to out: inout String) {
        out += "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if isUnsafeForTerminal(u) {
                    out += "\\u" + hex(u.value, digits: 4)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let h = String(value, radix: 16)
        return h.count >= digits ? h : String(repeating: "0", count: digits - h.count) + h
    }
}
