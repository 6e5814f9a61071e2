import Foundation
import Yams

extension Manifest {
    /// Largest manifest file accepted (64 KiB); a manifest is a few hundred bytes, and 1,000 class names
    /// fit many times over. Anything bigger is a mistake or an attack, and is rejected unparsed.
    public static let maxManifestBytes = 64 << 10

    /// Reads, parses and validates a manifest file (`.yaml`, `.yml` or `.json`).
    ///
    /// Checks the archive rule of DESIGN §9 too: `archive` is a plain file name, and when
    /// `requireArchive` is true it must exist beside the manifest as a regular file (not a symlink,
    /// which could point outside the inbox). The daemon passes `false` for "reprocess" manifests (§4).
    public static func load(path: String, requireArchive: Bool = true) throws -> Manifest {
        let ext = (path as NSString).pathExtension.lowercased()
        guard ["yaml", "yml", "json"].contains(ext) else {
            throw DatasetError(.notYAML, file: path, location: "",
                               found: ext.isEmpty ? "a file without extension" : "a .\(ext) file",
                               expected: "a YAML (.yaml, .yml) or JSON (.json) manifest")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DatasetError(.io, file: path, location: "", found: "no readable file",
                               expected: "a readable manifest file")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxManifestBytes + 1)) ?? Data()
        let manifest = try parse(data: data, file: path)
        let dir = (path as NSString).deletingLastPathComponent
        let archivePath = dir.isEmpty ? manifest.archive : dir + "/" + manifest.archive
        if requireArchive {
            var st = stat()
            guard lstat(archivePath, &st) == 0 else {
                throw DatasetError(.archiveMissing, file: path, location: "archive",
                                   found: "\(quoted(manifest.archive)), which does not exist",
                                   expected: "an archive file beside the manifest in \(quoted(dir.isEmpty ? "." : dir))")
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw DatasetError(.archiveOutsideInbox, file: path, location: "archive",
                                   found: "\(quoted(manifest.archive)), which is not a regular file (symlink or other)",
                                   expected: "a regular archive file beside the manifest")
            }
        }
        return manifest
    }

    /// Full path of the archive the manifest names, given the manifest's path.
    public static func archivePath(manifestPath: String, archive: String) -> String {
        let dir = (manifestPath as NSString).deletingLastPathComponent
        return dir.isEmpty ? archive : dir + "/" + archive
    }

    /// Parses and validates the bytes of a manifest file (at most `maxManifestBytes` of UTF-8); `file`
    /// names it in errors. What `load` and the daemon's inbox scan both call.
    public static func parse(data: Data, file: String) throws -> Manifest {
        guard data.count <= maxManifestBytes else {
            throw DatasetError(.notYAML, file: file, location: "", found: "more than \(maxManifestBytes >> 10) KiB",
                               expected: "a manifest of at most \(maxManifestBytes >> 10) KiB")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DatasetError(.notYAML, file: file, location: "", found: "bytes that are not UTF-8 text",
                               expected: "a YAML or JSON manifest")
        }
        return try parse(text: text, file: file)
    }

    /// Parses and validates manifest text; `file` is used in error messages only. The one parser of every
    /// entry point (`ingest`, `run`, the daemon's inbox): the text is checked for size, anchors, aliases,
    /// tags and nesting depth (`checkTokens`) before Yams composes it, so no input can make composition
    /// slow or deep.
    public static func parse(text: String, file: String) throws -> Manifest {
        guard text.utf8.count <= maxManifestBytes else {
            throw DatasetError(.notYAML, file: file, location: "", found: "\(text.utf8.count) bytes",
                               expected: "a manifest of at most \(maxManifestBytes >> 10) KiB")
        }
        try checkTokens(text, file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw DatasetError(.notYAML, file: file, location: "", found: "text that is not valid YAML (\(yamlProblem(error)))",
                               expected: "a YAML or JSON mapping of manifest keys")
        } catch {
            throw DatasetError(.notYAML, file: file, location: "", found: "text that is not valid YAML",
                               expected: "a YAML or JSON mapping of manifest keys")
        }
        guard let root, case .mapping = root else {
            throw DatasetError(.notYAML, file: file, location: "",
                               found: root == nil ? "an empty document" : "a YAML \(ManifestReader.kindName(root!))",
                               expected: "a YAML or JSON mapping of manifest keys")
        }
        let reader = ManifestReader(file: file)
        let manifest = try reader.manifest(root)
        try reader.validate(manifest)
        return manifest
    }

    /// Runs the cross-key rules of `parse` on a manifest built or changed in code (e.g. a profile's preset
    /// filled in); `file` names it in errors.
    public func validate(file: String) throws {
        try ManifestReader(file: file).validate(self)
    }

    /// Canonical JSON (sorted keys, no insignificant whitespace): equal manifests give equal bytes.
    public func canonicalJSON() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain structs of strings, numbers and enums cannot fail.
        return [UInt8](try! encoder.encode(self))
    }
}

/// First line of a Yams error, without the echoed document.
private func yamlProblem(_ error: YamlError) -> String {
    let text = "\(error)"
    return String(text.split(separator: "\n").first ?? Substring(text))
}

/// `[a-z0-9][a-z0-9-]{0,63}`.
func isValidDatasetName(_ s: String) -> Bool {
    let bytes = Array(s.utf8)
    guard (1...64).contains(bytes.count) else { return false }
    for (i, b) in bytes.enumerated() {
        let alnum = (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
        if !(alnum || (i > 0 && b == 0x2D)) { return false }
    }
    return true
}

/// A plain file name: no separators, no `.`/`..`, no control characters.
func isPlainFileName(_ s: String) -> Bool {
    if s.isEmpty || s == "." || s == ".." || s.utf8.count > 255 { return false }
    for u in s.unicodeScalars where u == "/" || u == "\\" || u.value < 0x20 || u.value == 0x7F { return false }
    return true
}
