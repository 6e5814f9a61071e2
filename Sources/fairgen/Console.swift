import ArgumentParser
import Foundation
import Store

/// Output helpers for the CLI: results on stdout, diagnostics on stderr (one line each).
enum Console {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Writes raw bytes to stdout (no newline added).
    static func writeRaw(_ bytes: Data) {
        FileHandle.standardOutput.write(bytes)
    }

    /// Left-aligned columns separated by two spaces; the last column is not padded.
    static func table(_ rows: [[String]]) -> String {
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
