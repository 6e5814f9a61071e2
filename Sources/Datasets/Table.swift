import CSV
import Foundation

/// Which part of the study a row belongs to.
public enum Split: String, Codable, Sendable, CaseIterable {
    case train, val
    case testID = "test_id"
    case testOOD = "test_ood"
    case unlabeled
}

/// One validated table row.
public struct TableRow: Codable, Equatable, Sendable {
    /// Normalised path of the image inside the archive.
    public var path: String
    /// Label vector over `classes`: one-hot (single), 0/1 (multi), distribution summing to 1 (soft);
    /// all zeros when the row is unlabeled. Multi: an uncertain (`-1`) entry holds
    /// `MultiLabelCell.uncertainValue` under mask 0 — what the generator is conditioned on; an unknown
    /// (blank, with `label.blank: unknown`) entry holds 0.
    public var label: [Float]
    /// Per class: 1 = known, 0 = unknown (multi: a -1 cell, or a blank one with `label.blank: unknown`;
    /// single/soft: the whole row unlabeled). The classifier learns only from known entries.
    public var labelMask: [UInt8]
    /// Per attribute: index into `DatasetTable.attributeValues[a]`, or -1 when blank (unknown).
    public var attributes: [Int]
    /// Index into `DatasetTable.domainValues`, or -1 (no domain column, or blank).
    public var domain: Int
    public var split: Split

    // Stored compactly (docs/dataset-object.md): the non-zero label entries and the unknown ones, not two
    // dense vectors over every class — a row costs O(its labels), not O(classes), so the table's size and
    // its decoding memory no longer scale with classes × rows.
    enum CodingKeys: String, CodingKey {
        case path, attributes, domain, split, classes, unknown, unlabeled
        case labelIndex = "label_index", labelValue = "label_value"
        // The dense form written before the compact one; still read.
        case label
        case labelMask = "label_mask"
    }

    /// True when at least one label entry is known.
    public var isLabeled: Bool { labelMask.contains(1) }

    /// The class with the largest label value (the first one on ties), or nil when the row is unlabeled.
    /// For single and soft labels this is the row's class; multi-label callers decide what a class means.
    public var topClass: Int? { isLabeled ? label.indices.max { label[$0] < label[$1] } : nil }
}

/// The compact row form (in an extension, so that the memberwise initialiser stays).
extension TableRow {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(attributes, forKey: .attributes)
        try c.encode(domain, forKey: .domain)
        try c.encode(split, forKey: .split)
        try c.encode(label.count, forKey: .classes)
        let nonZero = label.indices.filter { label[$0] != 0 }
        try c.encode(nonZero, forKey: .labelIndex)
        if nonZero.contains(where: { label[$0] != 1 }) { try c.encode(nonZero.map { label[$0] }, forKey: .labelValue) }
        let unknown = labelMask.indices.filter { labelMask[$0] == 0 }
        if !unknown.isEmpty && unknown.count == labelMask.count {
            try c.encode(true, forKey: .unlabeled)
        } else if !unknown.isEmpty {
            try c.encode(unknown, forKey: .unknown)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        attributes = try c.decode([Int].self, forKey: .attributes)
        domain = try c.decode(Int.self, forKey: .domain)
        split = try c.decode(Split.self, forKey: .split)
        if c.contains(.label) {
            label = try c.decode([Float].self, forKey: .label)
            labelMask = try c.decode([UInt8].self, forKey: .labelMask)
            guard labelMask.count == label.count else {
                throw DecodingError.dataCorruptedError(forKey: .labelMask, in: c, debugDescription: "label_mask length differs from label")
            }
            return
        }
        let k = try c.decode(Int.self, forKey: .classes)
        guard (1...ManifestLimits.maxClasses).contains(k) else {
            throw DecodingError.dataCorruptedError(forKey: .classes, in: c, debugDescription: "class count out of range")
        }
        let index = try c.decode([Int].self, forKey: .labelIndex)
        let values = try c.decodeIfPresent([Float].self, forKey: .labelValue) ?? [Float](repeating: 1, count: index.count)
        guard values.count == index.count, index.allSatisfy({ (0..<k).contains($0) }) else {
            throw DecodingError.dataCorruptedError(forKey: .labelIndex, in: c, debugDescription: "label entries out of range")
        }
        label = [Float](repeating: 0, count: k)
        for (i, v) in zip(index, values) { label[i] = v }
        if try c.decodeIfPresent(Bool.self, forKey: .unlabeled) == true {
            labelMask = [UInt8](repeating: 0, count: k)
        } else {
            labelMask = [UInt8](repeating: 1, count: k)
            let unknown = try c.decodeIfPresent([Int].self, forKey: .unknown) ?? []
            guard unknown.allSatisfy({ (0..<k).contains($0) }) else {
                throw DecodingError.dataCorruptedError(forKey: .unknown, in: c, debugDescription: "unknown entries out of range")
            }
            for i in unknown { labelMask[i] = 0 }
        }
    }
}

/// The validated table of a drop: rows in CSV order plus the vocabularies their indices refer to.
public struct DatasetTable: Codable, Equatable, Sendable {
    public var labelKind: LabelKind
    public var classes: [String]
    /// Attribute names (the manifest's `attributes`), in order.
    public var attributes: [String]
    /// Per attribute, its distinct non-blank values, sorted (so indices do not depend on row order).
    public var attributeValues: [[String]]
    /// Distinct non-blank domain values, sorted.
    public var domainValues: [String]
    public var rows: [TableRow]

    enum CodingKeys: String, CodingKey {
        case classes, attributes, rows
        case labelKind = "label_kind", attributeValues = "attribute_values", domainValues = "domain_values"
    }

    /// Parses and validates the CSV `bytes` against the manifest. `file`/`tableName` name the source in
    /// errors; rows are numbered from 1 with the header as row 1.
    /// `maxLabelEntries` bounds rows × classes (tests lower it).
    public static func parse(_ bytes: [UInt8], manifest m: Manifest, file: String,
                             maxLabelEntries: Int = ManifestLimits.maxLabelEntries) throws -> DatasetTable {
        let tableName = m.table
        func err(_ code: DatasetError.Code, row: Int?, column: String?, found: String, expected: String) -> DatasetError {
            var place = tableName
            if let row { place += " row \(row)" }
            if let column { place += (row == nil ? " " : ", ") + "column \(quoted(column))" }
            return DatasetError(code, file: file, location: place, found: found, expected: expected, row: row, column: column)
        }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        guard let text = String(validating: body, as: UTF8.self) else {
            throw err(.invalidCell, row: nil, column: nil, found: "bytes that are not UTF-8", expected: "a UTF-8 CSV table")
        }
        let reader: CSVReader
        do { reader = try CSVReader(string: text, hasHeaderRow: false) } catch {
            throw err(.invalidCell, row: nil, column: nil, found: "unreadable CSV (\(error))", expected: "a CSV table with a header row")
        }
        guard let header = reader.next()?.map({ $0.trimmingCharacters(in: .whitespaces) }), header != [""] else {
            throw err(.invalidCell, row: 1, column: nil, found: "no header row", expected: "a CSV table with a header row")
        }
        var index: [String: Int] = [:]
        for (i, name) in header.enumerated() {
            guard index[name] == nil else {
                throw err(.invalidCell, row: 1, column: name, found: "a duplicated column name", expected: "distinct column names")
            }
            index[name] = i
        }
        func column(_ name: String, _ role: String) throws -> Int {
            guard let i = index[name] else {
                throw err(.missingColumn, row: 1, column: name, found: "no such column (header: \(header.joined(separator: ",")))",
                          expected: "the \(role) column named in the manifest")
            }
            return i
        }
        let imageCol = try column(m.imageColumn, "image_column")
        let label = try LabelParser(spec: m.label, blank: m.blankCells, columns: { try column($0, "label") })
        let attrCols = try m.attributes.map { try column($0, "attributes") }
        let domainCol = try m.domainColumn.map { try column($0, "domain_column") }
        let splitCol = try m.splitColumn.map { try column($0, "split_column") }

        var rows: [TableRow] = []
        var rawAttributes: [[String]] = []
        var rawDomains: [String] = []
        var firstRowOfPath: [String: Int] = [:]
        var rowNumber = 1
        while let record = reader.next() {
            rowNumber += 1
            if record.count == 1 && record[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }  // blank line
            guard record.count == header.count else {
                throw err(.raggedRow, row: rowNumber, column: nil, found: "\(record.count) columns",
                          expected: "\(header.count) columns, as in the header")
            }
            let cells = record.map { $0.trimmingCharacters(in: .whitespaces) }
            let rawPath = cells[imageCol]
            let path: String
            do { path = try normalisedEntryName(rawPath) } catch let p as EntryNameProblem {
                throw err(.invalidCell, row: rowNumber, column: m.imageColumn, found: "\(quoted(rawPath)) (\(p.found))", expected: p.expected)
            }
            guard path.lowercased().hasSuffix(".png") else {
                throw err(.invalidCell, row: rowNumber, column: m.imageColumn, found: quoted(rawPath), expected: "the path of a .png image")
            }
            if let first = firstRowOfPath[path] {
                throw err(.invalidCell, row: rowNumber, column: m.imageColumn, found: "\(quoted(path)), already used in row \(first)",
                          expected: "each image in one row only")
            }
            firstRowOfPath[path] = rowNumber
            // Each row stores a label vector and a mask of `classes` entries: refuse the table before the
            // row that would take it past the bound, instead of allocating until memory runs out.
            guard (rows.count + 1) * m.label.classes.count <= maxLabelEntries else {
                throw err(.invalidCell, row: rowNumber, column: nil,
                          found: "more than \(rows.count) rows with \(m.label.classes.count) classes",
                          expected: "rows × classes ≤ \(maxLabelEntries)")
            }
            var split = Split.train
            if let splitCol {
                guard let s = Split(rawValue: cells[splitCol]) else {
                    throw err(.invalidCell, row: rowNumber, column: m.splitColumn, found: quoted(cells[splitCol]),
                              expected: "one of \(Split.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                split = s
            }
            let (vector, mask) = try label.parse(cells, unlabeledSplit: split == .unlabeled) { code, column, found, expected in
                err(code, row: rowNumber, column: column, found: found, expected: expected)
            }
            rows.append(TableRow(path: path, label: vector, labelMask: mask, attributes: [], domain: -1, split: split))
            rawAttributes.append(attrCols.map { cells[$0] })
            rawDomains.append(domainCol.map { cells[$0] } ?? "")
        }
        if let error = reader.error {
            throw err(.invalidCell, row: rowNumber + 1, column: nil, found: "unreadable CSV (\(error))", expected: "valid CSV")
        }
        guard !rows.isEmpty else {
            throw err(.invalidCell, row: nil, column: nil, found: "a header without rows", expected: "at least one image row")
        }
        // Vocabularies: sorted distinct non-blank values; blank = unknown (-1).
        var attributeValues: [[String]] = []
        for a in 0..<attrCols.count {
            let vocab = Array(Set(rawAttributes.map { $0[a] }).subtracting([""])).sorted()
            attributeValues.append(vocab)
        }
        let lookups = attributeValues.map { Dictionary(uniqueKeysWithValues: $0.enumerated().map { ($1, $0) }) }
        let domainValues = Array(Set(rawDomains).subtracting([""])).sorted()
        let domainLookup = Dictionary(uniqueKeysWithValues: domainValues.enumerated().map { ($1, $0) })
        for r in rows.indices {
            rows[r].attributes = (0..<attrCols.count).map { lookups[$0][rawAttributes[r][$0]] ?? -1 }
            rows[r].domain = domainLookup[rawDomains[r]] ?? -1
        }
        return DatasetTable(labelKind: m.label.kind, classes: m.label.classes, attributes: m.attributes,
                            attributeValues: attributeValues, domainValues: domainValues, rows: rows)
    }
}
