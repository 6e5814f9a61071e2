import Foundation
import Text

/// What `fairgen ingest --dry-run` reports about a drop that passed every check ingest makes.
public struct IngestSummary: Sendable, Equatable {
    /// Rows of one split: all of them, and those carrying at least one known label.
    public struct SplitCount: Sendable, Equatable {
        public var split: Split
        public var rows: Int
        public var labeled: Int
    }

    public var name: String
    public var modality: Modality
    public var labelKind: LabelKind
    public var classes: [String]
    /// Multi-label only: what a blank cell meant.
    public var blankCells: BlankCell?
    /// Multi-label only: entries whose cell was `-1` (uncertain).
    public var uncertainEntries: Int
    /// Splits that have rows, in `Split.allCases` order.
    public var splits: [SplitCount]
    /// Attribute name and its distinct values (sorted), in manifest order.
    public var attributes: [(name: String, values: [String])]
    /// Distinct domain values (empty without `domain_column`).
    public var domains: [String]
    /// Ingested resolutions, ascending, and the channel count of the images.
    public var resolutions: [Int]
    public var channels: Int

    public static func == (a: IngestSummary, b: IngestSummary) -> Bool {
        a.lines == b.lines
    }

    /// Summarises an ingested dataset.
    public init(_ d: IngestedDataset) {
        let t = d.table
        name = d.manifest.name
        modality = d.manifest.modality
        labelKind = t.labelKind
        classes = t.classes
        blankCells = t.labelKind == .multi ? d.manifest.blankCells : nil
        uncertainEntries = t.labelKind == .multi
            ? t.rows.reduce(0) { n, r in n + zip(r.label, r.labelMask).filter { $1 == 0 && $0 == MultiLabelCell.uncertainValue }.count }
            : 0
        splits = Split.allCases.compactMap { s in
            let rows = t.rows.filter { $0.split == s }
            return rows.isEmpty ? nil : SplitCount(split: s, rows: rows.count, labeled: rows.filter(\.isLabeled).count)
        }
        attributes = zip(t.attributes, t.attributeValues).map { ($0, $1) }
        domains = t.domainValues
        resolutions = d.images.map(\.resolution)
        channels = d.images.first?.channels ?? 0
    }

    /// The report, one fact per line; names from the drop are rendered with `UntrustedText.terminal`.
    public var lines: [String] {
        func names(_ list: [String], limit: Int = 12) -> String {
            let shown = list.prefix(limit).map { UntrustedText.terminal($0) }.joined(separator: ", ")
            return list.count > limit ? shown + ", … (\(list.count - limit) more)" : shown
        }
        var out = ["dataset: \(name) (\(modality.rawValue)) — valid, nothing written"]
        var label = "labels: \(labelKind.rawValue), \(classes.count) classes: \(names(classes))"
        if let b = blankCells { label += "; blank cell = \(b.rawValue), \(uncertainEntries) uncertain (-1) entries" }
        out.append(label)
        let total = splits.reduce(0) { $0 + $1.rows }
        out.append("rows: \(total) — " + splits.map { "\($0.split.rawValue) \($0.rows) (\($0.labeled) labeled)" }.joined(separator: ", "))
        if attributes.isEmpty {
            out.append("attributes: none")
        } else {
            for a in attributes { out.append("attribute \(UntrustedText.terminal(a.name)): \(a.values.count) values: \(names(a.values))") }
        }
        if !domains.isEmpty { out.append("domains: \(domains.count): \(names(domains))") }
        out.append("images: \(channels == 1 ? "gray" : "colour"), at " + resolutions.map { "\($0)×\($0)" }.joined(separator: " and "))
        return out
    }
}

/// `fairgen ingest --dry-run`: every check of `fairgen ingest` — the manifest and its cross-key rules, the
/// archive limits and entry names, the table (columns, labels, splits), every referenced PNG decoded and
/// resized within the pixel budgets — on `archivePath` (by default the archive beside the manifest),
/// writing nothing anywhere. Throws the `DatasetError` ingest would throw.
public func ingestDryRun(manifestPath: String, archivePath: String? = nil,
                         limits: IngestLimits = IngestLimits()) throws -> IngestSummary {
    let manifest = try Manifest.load(path: manifestPath, requireArchive: archivePath == nil)
    let archive = archivePath ?? Manifest.archivePath(manifestPath: manifestPath, archive: manifest.archive)
    var st = stat()
    guard stat(archive, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
        throw DatasetError(.archiveMissing, file: archive, location: "", found: "no regular file",
                           expected: "the drop's archive (a regular file)")
    }
    return IngestSummary(try ingestArchive(manifest: manifest, archivePath: archive, limits: limits,
                                           resolutions: manifest.resolutions))
}
