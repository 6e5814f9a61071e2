import Foundation
import Text

/// A rejected input: a manifest, an archive entry, a PNG or a table cell that breaks the rules of
/// DESIGN §3 and §9. Every error names the file, the place inside it (key path, entry name or CSV
/// row/column), what was found and what was expected, so `description` is a one-line message a user
/// can act on, e.g. `inbox/x.yaml: label.kind: found "multiclass", expected one of single, multi, soft`.
public struct DatasetError: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    /// What went wrong, for callers and tests that branch on the kind of problem.
    public enum Code: String, Sendable, Equatable {
        // manifest
        case notYAML, unknownKey, missingKey, invalidValue, badName, archiveOutsideInbox, archiveMissing
        // archive
        case corruptArchive, pathTraversal, absolutePath, badEntryName, linkEntry, specialEntry,
             duplicateEntry, tooManyEntries, entryTooLarge, totalTooLarge, compressionRatio
        // images
        case pngTooLarge, pngCorrupt, pngFormat, pixelBudget
        // table
        case tableMissing, raggedRow, missingColumn, missingImage, labelOutsideClasses, invalidCell
        // files and stored objects
        case io, badObject
    }

    /// The kind of problem.
    public var code: Code
    /// The file the problem is in (manifest, archive, or `archive:entry`).
    public var file: String
    /// Where inside the file: a key path (`label.kind`), an entry name, or `row 3, column "split"`.
    public var location: String
    /// What was found, already formatted (strings quoted).
    public var found: String
    /// What was expected.
    public var expected: String
    /// CSV row (1-based, the header is row 1), when the problem is in the table.
    public var row: Int?
    /// CSV column name, when the problem is in the table.
    public var column: String?

    public init(_ code: Code, file: String, location: String, found: String, expected: String,
                row: Int? = nil, column: String? = nil) {
        self.code = code
        self.file = file
        self.location = location
        self.found = found
        self.expected = expected
        self.row = row
        self.column = column
    }

    /// Same as `description` (so `localizedDescription` is the one-line message too).
    public var errorDescription: String? { description }

    /// One line: `file: location: found X, expected Y`. Every part is rendered with
    /// `UntrustedText.terminal` here, in one place: file names, key paths, entry names and CSV column
    /// names come from the user's drop and may hold ESC/OSC sequences, bidi overrides or newlines,
    /// which must not reach a terminal, the daemon log or error.json raw (docs/manifest.md, "Untrusted
    /// text"). The stored fields keep the raw text for callers that compare it.
    public var description: String {
        let place = location.isEmpty ? "" : "\(UntrustedText.terminal(location)): "
        return "\(UntrustedText.terminal(file)): \(place)found \(UntrustedText.terminal(found)), "
            + "expected \(UntrustedText.terminal(expected))"
    }
}

/// Quotes a user-supplied string for an error message (`UntrustedText.quoted`: controls and bidi
/// characters made visible, `"` and `\` escaped, long text truncated).
func quoted(_ s: String) -> String { UntrustedText.quoted(s) }
