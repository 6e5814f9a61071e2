import ArgumentParser
import Foundation
import Store
import Text

/// Output helpers for the CLI: results on stdout, diagnostics on stderr (one line each).
///
/// Text printed here may hold user data (file, class, column and dataset names; error messages that
/// quote them), so every helper renders it with `UntrustedText.terminal`: ESC/OSC/C1 and bidi
/// controls become visible escapes and a newline inside a line cannot start a second one.
enum Console {
    /// One diagnostic line on stderr.
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((UntrustedText.terminal(line) + "\n").utf8))
    }

    /// Multi-line text on stderr (ArgumentParser's usage and help messages): each line is rendered on
    /// its own, so the layout survives but controls inside a line do not.
    static func errorBlock(_ text: String) {
        FileHandle.standardError.write(Data((lines(text) + "\n").utf8))
    }

    /// One result line on stdout.
    static func out(_ line: String) {
        print(UntrustedText.terminal(line))
    }

    /// Multi-line text on stdout (e.g. the summary table), rendered line by line; no newline added.
    static func outBlock(_ text: String) {
        print(lines(text), terminator: "")
    }

    /// `text` with each `\n`-separated line rendered with `UntrustedText.terminal`.
    static func lines(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { UntrustedText.terminal(String($0)) }.joined(separator: "\n")
    }

    /// Writes raw bytes to stdout (no newline added).
    static func writeRaw(_ bytes: Data) {
        FileHandle.standardOutput.write(bytes)
    }

    /// Left-aligned columns separated by two spaces; the last column is not padded.
    /// Cells are rendered with `UntrustedText.terminal` before the widths are measured.
    static func table(_ rows: [[String]]) -> String {
        let rows = rows.map { $0.map(UntrustedText.terminal) }
        guard let width = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// ISO 8601 in UTC, whole seconds.
    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}

/// `--store PATH`, shared by every command that touches the store. Default: `$FAIRGEN_STORE`, else
/// `./store` (relative to the working directory).
struct StoreLocation: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store folder (default: $FAIRGEN_STORE, else ./store).", valueName: "path"))
    var store: String?

    func validate() throws {
        try FolderDefaults.validate(store, option: "--store")
    }

    /// The store folder to use.
    var url: URL {
        FolderDefaults.folder(flag: store, variable: FolderDefaults.storeVariable, fallback: "store")
    }

    /// Opens the store; readers require it to exist, writers create it.
    func open(create: Bool) throws -> Store { try Store.open(at: url, create: create) }
}
