import Foundation

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

    /// One line: `file: location: found X, expected Y`.
    public var description: String {
        let place = location.isEmpty ? "" : "\(location): "
        return "\(file): \(place)found \(found), expected \(expected)"
    }
}

/// Quotes a user-supplied string for an error message (escaping control characters, truncating long ones).
func quoted(_ s: String) -> String {
    var out = ""
    for scalar in s.unicodeScalars.prefix(120) {
        if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\"" || scalar == "\\" {
            out += scalar.escaped(asASCII: false)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    if s.unicodeScalars.count > 120 { out += "…" }
    return "\"\(out)\""
}
