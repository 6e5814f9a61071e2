import Foundation

/// The two manifest keys the daemon needs before the pipeline validates the whole file: `name` (the
/// dataset) and `archive` (the file beside the manifest). Full validation is the Datasets module's job.
public struct ManifestKeys: Sendable, Equatable {
    public var name: String?
    public var archive: String?

    public init(name: String?, archive: String?) {
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

    /// Reads `name` and `archive` from manifest text. JSON (by extension `.json`) must be an object;
    /// YAML is read line by line for top-level `key: value` pairs (quotes and trailing comments are
    /// stripped), which is all the daemon needs. Throws a message naming the file when JSON is invalid.
    public static func peek(_ data: Data, fileName: String) throws -> ManifestKeys {
        if fileName.lowercased().hasSuffix(".json") {
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: data)
            } catch {
                throw JobError(stage: "inbox", message: "\(fileName): not valid JSON",
                               hint: "a JSON manifest is one object with keys name, archive, …")
            }
            guard let dict = object as? [String: Any] else {
                throw JobError(stage: "inbox", message: "\(fileName): expected a JSON object at the top level")
            }
            return ManifestKeys(name: dict["name"] as? String, archive: dict["archive"] as? String)
        }
        var keys = ManifestKeys(name: nil, archive: nil)
        let text = String(decoding: data, as: UTF8.self)
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = String(rawLine)
            // Top-level keys only: nested keys are indented, comments and documents markers are skipped.
            guard let first = line.first, first != " ", first != "\t", first != "#", first != "-" else { continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            guard key == "name" || key == "archive" else { continue }
            let value = scalar(String(line[line.index(after: colon)...]))
            if key == "name" { keys.name = value } else { keys.archive = value }
        }
        return keys
    }

    /// A YAML plain or quoted scalar with any trailing comment removed; nil when empty.
    static func scalar(_ raw: String) -> String? {
        var value = raw.trimmingCharacters(in: .whitespaces)
        if let q = value.first, q == "\"" || q == "'" {
            value.removeFirst()
            if let end = value.firstIndex(of: q) { value = String(value[..<end]) }
            return value.isEmpty ? nil : value
        }
        if let hash = value.range(of: " #") { value = String(value[..<hash.lowerBound]) }
        if value.hasPrefix("#") { value = "" }
        value = value.trimmingCharacters(in: .whitespaces)
        return value.isEmpty || value == "~" || value == "null" ? nil : value
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
