/// How multi-label cells are stored (docs/manifest.md, "Multi-label cells").
public enum MultiLabelCell {
    /// The label-vector value of an uncertain (`-1`) entry. Its mask is 0, so the classifier never learns
    /// from it (CheXpert: uncertain findings are left out of the diagnostic model's loss), but the generator
    /// is conditioned on the label vector itself, so it learns "maybe present" — halfway between absent (0)
    /// and present (1) — instead of seeing the entry as absent or the row as unlabeled.
    public static let uncertainValue: Float = 0.5
}

/// Turns a row's label cells into a label vector and a known-mask, per the manifest's label kind.
struct LabelParser {
    typealias Fail = (DatasetError.Code, String, String, String) -> DatasetError

    let spec: LabelSpec
    /// What an empty `multi` cell means (the manifest's `blankCells`).
    let blank: BlankCell
    /// Column indices: `column` (single) or `columns` / `rater_columns` (multi, soft).
    let indices: [Int]
    let names: [String]
    let classIndex: [String: Int]

    init(spec: LabelSpec, blank: BlankCell, columns: (String) throws -> Int) throws {
        self.spec = spec
        self.blank = blank
        names = spec.column.map { [$0] } ?? spec.columns ?? spec.raterColumns ?? []
        indices = try names.map(columns)
        classIndex = Dictionary(uniqueKeysWithValues: spec.classes.enumerated().map { ($1, $0) })
    }

    /// Returns (label vector, mask). `fail(code, column, found, expected)` builds the row's error.
    /// `unlabeledSplit`: the row is in split `unlabeled`, whose blank cells are never read as negatives.
    func parse(_ cells: [String], unlabeledSplit: Bool = false, fail: Fail) throws -> ([Float], [UInt8]) {
        let k = spec.classes.count
        let unlabeled = ([Float](repeating: 0, count: k), [UInt8](repeating: 0, count: k))
        let expectedClass = "one of label.classes (\(spec.classes.joined(separator: ", ")))"
        switch spec.kind {
        case .single:
            let cell = cells[indices[0]]
            if cell.isEmpty { return unlabeled }
            guard let c = classIndex[cell] else {
                throw fail(.labelOutsideClasses, names[0], quoted(cell), expectedClass)
            }
            var v = [Float](repeating: 0, count: k)
            v[c] = 1
            return (v, [UInt8](repeating: 1, count: k))

        case .multi:
            var v = [Float](repeating: 0, count: k), mask = [UInt8](repeating: 0, count: k)
            for (j, col) in indices.enumerated() {
                let cell = cells[col]
                if cell.isEmpty {
                    // A known 0 — except in the `unlabeled` split, which has no findings to leave unmentioned.
                    if blank == .negative && !unlabeledSplit { mask[j] = 1 }
                    continue
                }
                guard let x = Double(cell), x == 0 || x == 1 || x == -1 else {
                    throw fail(.invalidCell, names[j], quoted(cell),
                               blank == .negative ? "0, 1, -1 for uncertain, or blank for 0" : "0, 1, -1 for uncertain, or blank for unknown")
                }
                if x >= 0 { v[j] = Float(x); mask[j] = 1 } else { v[j] = MultiLabelCell.uncertainValue }
            }
            return (v, mask)

        case .soft:
            if spec.raterColumns != nil {
                var raters: [[(String, Double)]] = []
                for (j, col) in indices.enumerated() {
                    let cell = cells[col]
                    if cell.isEmpty { continue }
                    raters.append(try parseRater(cell, column: names[j], fail: fail))
                }
                if raters.isEmpty { return unlabeled }
                return (aggregateRaterLabels(raters, classes: spec.classes), [UInt8](repeating: 1, count: k))
            }
            var weights = [Double](repeating: 0, count: k)
            var any = false
            for (j, col) in indices.enumerated() {
                let cell = cells[col]
                if cell.isEmpty { continue }
                guard let x = Double(cell), x.isFinite, x >= 0 else {
                    throw fail(.invalidCell, names[j], quoted(cell), "a non-negative weight or blank")
                }
                weights[j] = x
                any = true
            }
            if !any { return unlabeled }
            let total = weights.reduce(0, +)
            guard total > 0 else {
                throw fail(.invalidCell, names.joined(separator: ","), "weights summing to 0", "at least one positive weight")
            }
            return (weights.map { Float($0 / total) }, [UInt8](repeating: 1, count: k))
        }
    }

    /// `condition:confidence;condition:confidence` → pairs; conditions must be classes, once each.
    private func parseRater(_ cell: String, column: String, fail: Fail) throws -> [(String, Double)] {
        var out: [(String, Double)] = []
        for item in cell.split(separator: ";", omittingEmptySubsequences: true) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let conf = Double(parts[1].trimmingCharacters(in: .whitespaces)), conf.isFinite, conf >= 0 else {
                throw fail(.invalidCell, column, quoted(String(item)), "condition:confidence with a non-negative confidence")
            }
            let cond = parts[0].trimmingCharacters(in: .whitespaces)
            guard classIndex[cond] != nil else {
                throw fail(.labelOutsideClasses, column, quoted(cond),
                           "one of label.classes (\(spec.classes.joined(separator: ", ")))")
            }
            guard !out.contains(where: { $0.0 == cond }) else {
                throw fail(.invalidCell, column, "\(quoted(cond)) twice", "each condition once per rater")
            }
            out.append((cond, conf))
        }
        guard !out.isEmpty else { throw fail(.invalidCell, column, quoted(cell), "condition:confidence pairs") }
        return out
    }
}

/// Soft labels from raters (Ktena et al.): within each rater, conditions are ranked by confidence
/// (highest = rank 1; equal confidences share the better rank) and weighted 1/rank; weights are
/// summed over raters and normalised. {(A,4),(B,3)} + {(A,3),(D,4)} → A 0.5, B 0.167, C 0, D 0.333.
public func aggregateRaterLabels(_ raters: [[(String, Double)]], classes: [String]) -> [Float] {
    var sums = [Double](repeating: 0, count: classes.count)
    for rater in raters {
        for (cond, conf) in rater {
            guard let c = classes.firstIndex(of: cond) else { continue }
            let rank = 1 + rater.filter { $0.1 > conf }.count
            sums[c] += 1 / Double(rank)
        }
    }
    let total = sums.reduce(0, +)
    guard total > 0 else { return [Float](repeating: 0, count: classes.count) }
    return sums.map { Float($0 / total) }
}
