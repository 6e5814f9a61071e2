import Datasets
import Foundation

/// The two manifest keys the daemon needs to decide what a drop is: `name` (the dataset) and `archive`
/// (the file beside the manifest). They come from the one manifest parser (`Manifest.parse`), with the
/// whole manifest validated, so the daemon reads a file exactly as `fairgen ingest` and the job do —
/// flow style, quoted keys and JSON included — and rejects an invalid one at the inbox with the same error.
public struct ManifestKeys: Sendable, Equatable {
    public var name: String
    public var archive: String

    public init(name: String, archive: String) {
        self.name = name
        self.archive = archive
    }

    /// File extensions that make a file in the inbox a manifest.
    public static let extensions = ["yaml", "yml", "json"]

    /// True when `fileName` looks like a manifest (`NAME.yaml`, `NAME.yml`, `NAME.json`, not a dot-file).
    public static func isManifestName(_ fileName: String) -> Bool {
        guard !fileName.hasPrefix("."), let dot = fileName.lastIndex(of: "."), dot != fileName.startIndex
        else { return false }
        return extensions.contains(String(fileName[fileName.index(after: dot)...]).lowercased())
    }

    /// The manifest's file name without its extension.
    public static func stem(_ fileName: String) -> String {
        guard let dot = fileName.lastIndex(of: ".") else { return fileName }
        return String(fileName[..<dot])
    }

    /// Parses and validates `data` (the manifest `fileName`) with `Manifest.parse` and returns its
    /// `name` and `archive`. Throws a `JobError` of stage `inbox` carrying the parser's one-line error.
    public static func read(_ data: Data, fileName: String) throws -> ManifestKeys {
        do {
            let manifest = try Manifest.parse(data: data, file: fileName)
            return ManifestKeys(name: manifest.name, archive: manifest.archive)
        } catch let error as DatasetError {
            throw JobError(stage: "inbox", message: error.description,
                           hint: "fix the manifest (docs/manifest.md) and drop it again")
        }
    }

    /// True when `name` is a valid dataset name: `[a-z0-9][a-z0-9-]{0,63}` (DESIGN §9).
    public static func isValidDatasetName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func ok(_ b: UInt8, dash: Bool) -> Bool {
            (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || (dash && b == 0x2d)
        }
        return ok(bytes[0], dash: false) && bytes.dropFirst().allSatisfy { ok($0, dash: true) }
    }
}
