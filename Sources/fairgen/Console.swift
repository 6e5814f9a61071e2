import Foundation

/// Output helpers for the CLI: results on stdout, diagnostics on stderr (one line each).
enum Console {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
