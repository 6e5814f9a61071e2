// Reading a predictions CSV for `fairgen metrics` (DESIGN §8): a header row, then one row per example
// with `label` (class name), `score_<class>` per class and any attribute columns. Every rejection names
// the file, the line and the column, and says what was expected.
import Foundation
import Text

/// Why a predictions file was rejected (message: one line naming file, line/column and expectation).
public struct PredictionsCSVError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
    /// Header cells, labels and values in `message` come from the file: the whole message is rendered
    /// with `UntrustedText.terminal` here, once, so no call site can print ESC/OSC or bidi bytes raw.
    init(_ message: String) { self.message = UntrustedText.terminal(message) }
}

/// A parsed predictions file.
public struct Predictions: Sendable, Equatable {
    /// Class names in score-column order (or the `--classes` order).
    public var classes: [String]
    /// Class index of each row.
    public var labels: [Int]
    /// n × C scores.
    public var scores: ScoreMatrix
    /// The requested attribute columns, one value per row.
    public var attributes: [AttributeColumn]
}

/// Splits CSV text into records of fields (RFC 4180: quoted fields may hold commas, doubled quotes and
/// newlines; CRLF or LF line ends). Returns each record with the 1-based line where it starts.
public func parseCSV(_ text: String, file: String) throws -> [(line: Int, fields: [String])] {
    var records = [(line: Int, fields: [String])]()
    var fields = [String](), field = "", inQuotes = false, afterQuote = false
    var line = 1, recordLine = 1
    var chars = text.makeIterator()
    var pending: Character? = nil
    func finishRecord() {
        fields.append(field); field = ""
        if !(fields.count == 1 && fields[0].isEmpty) { records.append((recordLine, fields)) }
        fields = []
    }
    while let c = pending ?? chars.next() {
        pending = nil
        if inQuotes {
            if c == "\"" {
                if let next = chars.next() {
                    if next == "\"" { field.append("\""); continue }
                    pending = next
                }
                inQuotes = false; afterQuote = true
            } else {
                if c == "\n" || c == "\r\n" { line += 1 }
                field.append(c)
            }
            continue
        }
        switch c {
        case ",":
            fields.append(field); field = ""; afterQuote = false
        case "\n", "\r\n", "\r":
            finishRecord(); afterQuote = false
            line += 1; recordLine = line
        case "\"" where field.isEmpty && !afterQuote:
            inQuotes = true
        default:
            if afterQuote {
                throw PredictionsCSVError("\(file): line \(line): unexpected character after a closing quote (expected , or end of line)")
            }
            field.append(c)
        }
    }
    if inQuotes { throw PredictionsCSVError("\(file): line \(recordLine): quoted field is not closed") }
    if !field.isEmpty || !fields.isEmpty || afterQuote { finishRecord() }
    return records
}

/// Reads and validates a predictions CSV. `classes` fixes the class order (each needs a `score_<class>`
/// column); otherwise the order of the `score_` columns in the header is used. `groupColumns` must exist.
public func readPredictions(path: String, groupColumns: [String], classes requested: [String]? = nil) throws -> Predictions {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw PredictionsCSVError("\(path): cannot read the file (\(error.localizedDescription))")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw PredictionsCSVError("\(path): not UTF-8 text (expected a CSV file)")
    }
    return try parsePredictions(text: text, file: path, groupColumns: groupColumns, classes: requested)
}

/// `readPredictions` on text already in memory (`file` names it in messages).
public func parsePredictions(text: String, file: String, groupColumns: [String], classes requested: [String]? = nil) throws -> Predictions {
    let records = try parseCSV(text, file: file)
    guard let header = records.first else {
        throw PredictionsCSVError("\(file): empty file (expected a header with label and score_<class> columns)")
    }
    var columnIndex = [String: Int]()
    for (i, name) in header.fields.enumerated() {
        let key = name.trimmingCharacters(in: .whitespaces)
        if columnIndex[key] != nil {
            throw PredictionsCSVError("\(file): line \(header.line): column '\(key)' appears twice in the header")
        }
        columnIndex[key] = i
    }
    guard let labelColumn = columnIndex["label"] else {
        throw PredictionsCSVError("\(file): line \(header.line): missing column 'label' (expected the true class name of each row)")
    }
    let headerNames = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
    let classes: [String]
    if let requested {
        classes = requested
        for c in classes where columnIndex["score_" + c] == nil {
            throw PredictionsCSVError("\(file): line \(header.line): missing column 'score_\(c)' (expected one score column per class of --classes)")
        }
    } else {
        classes = headerNames.filter { $0.hasPrefix("score_") && $0.count > 6 }.map { String($0.dropFirst(6)) }
    }
    if classes.count < 2 {
        throw PredictionsCSVError("\(file): line \(header.line): found \(classes.count) score_<class> column(s) (expected at least 2 classes)")
    }
    if Set(classes).count != classes.count {
        throw PredictionsCSVError("\(file): --classes lists a class twice (expected distinct class names)")
    }
    let scoreColumns = classes.map { columnIndex["score_" + $0]! }
    var groupIndices = [Int]()
    for g in groupColumns {
        guard let i = columnIndex[g] else {
            throw PredictionsCSVError("\(file): line \(header.line): missing column '\(g)' (named by --group; header has \(headerNames.joined(separator: ", ")))")
        }
        groupIndices.append(i)
    }
    let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($0.element, $0.offset) })
    var labels = [Int](), scores = [Double](), groupValues = [[String]](repeating: [], count: groupColumns.count)
    for record in records.dropFirst() {
        if record.fields.count != header.fields.count {
            throw PredictionsCSVError("\(file): line \(record.line): \(record.fields.count) fields (expected \(header.fields.count), as in the header)")
        }
        let name = record.fields[labelColumn].trimmingCharacters(in: .whitespaces)
        guard let y = classIndex[name] else {
            throw PredictionsCSVError("\(file): line \(record.line), column 'label': unknown label '\(name)' (expected one of \(classes.joined(separator: ", ")))")
        }
        labels.append(y)
        for (c, column) in scoreColumns.enumerated() {
            let raw = record.fields[column].trimmingCharacters(in: .whitespaces)
            guard let v = Double(raw), v.isFinite else {
                throw PredictionsCSVError("\(file): line \(record.line), column 'score_\(classes[c])': '\(raw)' is not a finite number")
            }
            scores.append(v)
        }
        for (g, column) in groupIndices.enumerated() { groupValues[g].append(record.fields[column]) }
    }
    if labels.isEmpty {
        throw PredictionsCSVError("\(file): no data rows after the header (expected one row per example)")
    }
    return Predictions(
        classes: classes, labels: labels,
        scores: ScoreMatrix(rows: labels.count, columns: classes.count, values: scores),
        // A blank cell is a missing value, not a group named "" (docs/metrics.md).
        attributes: zip(groupColumns, groupValues).map { name, values in
            AttributeColumn(name: name, values: values.map { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 })
        })
}

/// Class indices of `names` in `classes`, rejecting unknown names (for `--high-risk`).
public func classIndices(of names: [String], in classes: [String], option: String) throws -> Set<Int> {
    var out = Set<Int>()
    for n in names {
        guard let i = classes.firstIndex(of: n) else {
            throw PredictionsCSVError("\(option) \(n): unknown class (expected one of \(classes.joined(separator: ", ")))")
        }
        out.insert(i)
    }
    return out
}
