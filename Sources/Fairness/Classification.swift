// Classification metrics over hard labels and score matrices (docs/metrics.md has the definitions).
//
// Shapes: `labels[n]` holds class indices in 0..<C; `ScoreMatrix` holds n rows of C scores, row-major.
// Every metric returns `nil` where it is undefined (no examples, no examples of the relevant class),
// which the JSON layer writes as `null`. All arithmetic is Double so that results agree with
// scikit-learn to 1e-9 (scores from a Float32 model are widened exactly).

/// n × C scores (probabilities, logits — any monotone score works), row-major.
public struct ScoreMatrix: Sendable, Equatable {
    /// Number of rows (examples).
    public let rows: Int
    /// Number of columns (classes or conditions).
    public let columns: Int
    /// `rows * columns` values; entry (i, c) is at `i * columns + c`.
    public var values: [Double]

    /// Wraps `values` (row-major, `rows * columns` entries).
    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(rows >= 0 && columns > 0 && values.count == rows * columns,
                     "ScoreMatrix: \(values.count) values for \(rows)×\(columns)")
        self.rows = rows; self.columns = columns; self.values = values
    }

    /// Wraps Float32 scores (e.g. a classifier's softmax output), widening them to Double.
    public init(rows: Int, columns: Int, floats: [Float]) {
        self.init(rows: rows, columns: columns, values: floats.map(Double.init))
    }

    /// Score of row `i`, column `c`.
    @inlinable public subscript(i: Int, c: Int) -> Double { values[i * columns + c] }

    /// The rows at `indices`, in that order.
    public func selecting(rows indices: [Int]) -> ScoreMatrix {
        var out = [Double](); out.reserveCapacity(indices.count * columns)
        for i in indices { out.append(contentsOf: values[(i * columns)..<((i + 1) * columns)]) }
        return ScoreMatrix(rows: indices.count, columns: columns, values: out)
    }
}

/// Label helpers.
public enum Labels {
    /// Arg-max of each soft-label row (ties → the first class), the hard label the metrics use.
    public static func hard(fromSoft soft: ScoreMatrix) -> [Int] { predictions(soft) }
}

/// Prediction of each row: arg-max score, ties → the first (lowest-index) class, as `numpy.argmax`.
public func predictions(_ scores: ScoreMatrix) -> [Int] {
    var out = [Int](repeating: 0, count: scores.rows)
    for i in 0..<scores.rows {
        var best = 0, bestValue = scores[i, 0]
        for c in 1..<scores.columns where scores[i, c] > bestValue { best = c; bestValue = scores[i, c] }
        out[i] = best
    }
    return out
}

/// Fraction of rows whose arg-max prediction equals the label (`sklearn.metrics.accuracy_score`).
public func accuracy(labels: [Int], scores: ScoreMatrix) -> Double? {
    accuracy(labels: labels, predicted: predictions(scores))
}

/// Fraction of rows with `predicted == labels`; `nil` for no rows.
public func accuracy(labels: [Int], predicted: [Int]) -> Double? {
    precondition(labels.count == predicted.count)
    if labels.isEmpty { return nil }
    var hits = 0
    for i in 0..<labels.count where labels[i] == predicted[i] { hits += 1 }
    return Double(hits) / Double(labels.count)
}

/// Whether row `i` is a top-k hit, with scikit-learn's tie rule: `top_k_accuracy_score` sorts scores with a
/// stable ascending sort and reverses, so among tied scores the *higher* class index ranks first. The
/// true class y is a hit iff (#classes scoring more than y) + (#tied classes with index > y) < k.
@inlinable func isTopKHit(row i: Int, label y: Int, scores: ScoreMatrix, k: Int) -> Bool {
    let sy = scores[i, y]
    var ahead = 0
    for c in 0..<scores.columns where scores[i, c] > sy || (scores[i, c] == sy && c > y) { ahead += 1 }
    return ahead < k
}

/// Per-row top-k hits (see `isTopKHit`); k ≥ C makes every row a hit, as in scikit-learn.
public func topKHits(labels: [Int], scores: ScoreMatrix, k: Int) -> [Bool] {
    precondition(labels.count == scores.rows && k >= 1)
    return (0..<labels.count).map { isTopKHit(row: $0, label: labels[$0], scores: scores, k: k) }
}

/// Top-k accuracy (`sklearn.metrics.top_k_accuracy_score`, same tie rule); `nil` for no rows.
public func topKAccuracy(labels: [Int], scores: ScoreMatrix, k: Int) -> Double? {
    if labels.isEmpty { return nil }
    let hits = topKHits(labels: labels, scores: scores, k: k)
    return Double(hits.lazy.filter { $0 }.count) / Double(labels.count)
}

/// Confusion counts: `matrix[t * C + p]` = rows with true class t predicted as p.
public func confusionMatrix(labels: [Int], predicted: [Int], classes: Int) -> [Int] {
    precondition(labels.count == predicted.count)
    var m = [Int](repeating: 0, count: classes * classes)
    for i in 0..<labels.count { m[labels[i] * classes + predicted[i]] += 1 }
    return m
}

/// Mean recall over the classes present in `labels` (`sklearn.metrics.balanced_accuracy_score`:
/// classes with no true example are dropped, not counted as 0); `nil` for no rows.
public func balancedAccuracy(labels: [Int], predicted: [Int], classes: Int) -> Double? {
    let m = confusionMatrix(labels: labels, predicted: predicted, classes: classes)
    var sum = 0.0, present = 0
    for t in 0..<classes {
        var support = 0
        for p in 0..<classes { support += m[t * classes + p] }
        if support > 0 { sum += Double(m[t * classes + t]) / Double(support); present += 1 }
    }
    return present == 0 ? nil : sum / Double(present)
}

/// Balanced accuracy of the arg-max predictions.
public func balancedAccuracy(labels: [Int], scores: ScoreMatrix) -> Double? {
    balancedAccuracy(labels: labels, predicted: predictions(scores), classes: scores.columns)
}

/// Macro-averaged precision, recall and F1.
public struct MacroPRF: Sendable, Equatable {
    public var precision: Double
    public var recall: Double
    public var f1: Double
}

/// Macro precision/recall/F1 as `sklearn.metrics.precision_recall_fscore_support(average="macro",
/// zero_division=0)` with its default label set: the classes occurring in `labels` or `predicted`.
/// A class with no predictions has precision 0, with no true examples recall 0; F1 = 2TP/(2TP+FP+FN).
/// `nil` for no rows.
public func macroPRF(labels: [Int], predicted: [Int], classes: Int) -> MacroPRF? {
    if labels.isEmpty { return nil }
    let m = confusionMatrix(labels: labels, predicted: predicted, classes: classes)
    var p = 0.0, r = 0.0, f = 0.0, used = 0
    for c in 0..<classes {
        var support = 0, predictedCount = 0
        for j in 0..<classes { support += m[c * classes + j]; predictedCount += m[j * classes + c] }
        if support == 0 && predictedCount == 0 { continue }
        let tp = Double(m[c * classes + c])
        p += predictedCount > 0 ? tp / Double(predictedCount) : 0
        r += support > 0 ? tp / Double(support) : 0
        let denominator = Double(support + predictedCount)   // = 2TP + FP + FN
        f += denominator > 0 ? 2 * tp / denominator : 0
        used += 1
    }
    let u = Double(used)
    return MacroPRF(precision: p / u, recall: r / u, f1: f / u)
}

/// High-risk sensitivity (DESIGN §6): among rows whose true class is in `highRisk`, the fraction predicted
/// as exactly their true class. `nil` when no row has a high-risk true class.
public func highRiskSensitivity(labels: [Int], predicted: [Int], highRisk: Set<Int>) -> Double? {
    var total = 0, hits = 0
    for i in 0..<labels.count where highRisk.contains(labels[i]) {
        total += 1
        if predicted[i] == labels[i] { hits += 1 }
    }
    return total == 0 ? nil : Double(hits) / Double(total)
}
