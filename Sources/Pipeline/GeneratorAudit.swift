import Classifier
import Diffusion
import Fairness
import Foundation
import Tensors

/// Generator diagnostics (metrics.json `generator`, docs/metrics.md): where does the generator fail?
///
/// An *auditor* — a classifier trained on the real training data only (the chain uses the baseline's
/// seed-0 classifier) — looks at the synthetic images. Per (class, attribute value) cell:
/// - **fidelity**: the share of synthetic images the auditor assigns to the class they were conditioned
///   on, beside the auditor's accuracy on the real `val` images of the same cell (the most a perfect
///   generator could score);
/// - **MMD²** between the real training images of the cell and its synthetic images in the auditor's
///   penultimate features (the polynomial kernel of the domain MMD);
/// - **memorised**: the share of synthetic images whose nearest real training image of the same class
///   (pixel L2) is closer than half the median nearest-other-training-image distance of that class — a
///   copy is at distance 0, an honest sample about as far as two real images are from each other.
/// The same numbers per attribute value (all classes) and overall.
public enum GeneratorAudit {
    /// Images with their conditioning: class index and attribute-value index (−1 = none/unknown).
    public struct LabeledSet {
        public var images: ImageBank
        public var classes: [Int]
        public var values: [Int]

        public init(images: ImageBank, classes: [Int], values: [Int]) {
            precondition(images.count == classes.count && classes.count == values.count, "LabeledSet: counts differ")
            self.images = images; self.classes = classes; self.values = values
        }
    }

    /// What the audit reports about one cell, one group or the whole set.
    public struct Entry: Equatable, Sendable {
        public var synthetic: Int
        public var fidelity: Double?
        public var validation: Int
        public var auditorValidationAccuracy: Double?
        public var mmd: Double?
        public var memorised: Double?
    }

    /// The auditor: images → class probabilities and penultimate features.
    public typealias Auditor = (ImageBank) -> ClassifierOutputs

    /// Share of memorisation threshold: a sample closer than this fraction of the class's median
    /// nearest-other-training distance counts as a copy.
    public static let memorisationFraction = 0.5

    /// Runs the audit. `classNames` / `valueNames` name the indices; `attribute` is the attribute's name
    /// (nil: one group "all").
    public static func run(auditor: Auditor, classNames: [String], attribute: String?, valueNames: [String],
                           train: LabeledSet, validation: LabeledSet, synthetic: LabeledSet,
                           mmdSampleSize: Int, mmdRepeats: Int, seed: UInt64 = 7) -> JSONValue {
        let synOut = auditor(synthetic.images), valOut = auditor(validation.images), trainOut = auditor(train.images)
        let synPredicted = argmaxRows(synOut), valPredicted = argmaxRows(valOut)
        let memorised = memorisedFlags(synthetic: synthetic, train: train)

        func entry(_ inCell: (Int, Int) -> Bool) -> Entry {
            let s = synthetic.classes.indices.filter { inCell(synthetic.classes[$0], synthetic.values[$0]) }
            let v = validation.classes.indices.filter { inCell(validation.classes[$0], validation.values[$0]) }
            let t = train.classes.indices.filter { inCell(train.classes[$0], train.values[$0]) }
            func share(_ idx: [Int], _ ok: (Int) -> Bool) -> Double? {
                idx.isEmpty ? nil : Double(idx.filter(ok).count) / Double(idx.count)
            }
            var mmd: Double? = nil
            if s.count >= 2, t.count >= 2, synOut.featureDim > 0 {
                let x = trainOut.featureSet.selecting(rows: t), y = synOut.featureSet.selecting(rows: s)
                mmd = mmdEstimates(x, y, sampleSize: mmdSampleSize, repeats: mmdRepeats, seed: seed).mean
            }
            let m = s.filter { memorised[$0] != nil }
            return Entry(synthetic: s.count, fidelity: share(s) { synPredicted[$0] == synthetic.classes[$0] },
                         validation: v.count, auditorValidationAccuracy: share(v) { valPredicted[$0] == validation.classes[$0] },
                         mmd: mmd, memorised: share(m) { memorised[$0] == true })
        }

        let values = attribute == nil ? [-1] : Array(valueNames.indices)
        var cells: [JSONValue] = []
        for c in classNames.indices {
            for v in values {
                let e = entry { $0 == c && (v < 0 || $1 == v) }
                if e.synthetic == 0 && e.validation == 0 { continue }
                cells.append(json(e, [("class", .string(classNames[c])), ("value", v < 0 ? .null : .string(valueNames[v]))]))
            }
        }
        var groups: [JSONValue] = []
        for v in values where v >= 0 {
            groups.append(json(entry { _, value in value == v }, [("value", .string(valueNames[v]))]))
        }
        return .object([
            JSONMember("auditor", .string("baseline classifier, seed 0 (trained on real data only)")),
            JSONMember("attribute", attribute.map { .string($0) } ?? .null),
            JSONMember("memorisation_rule", .string("nearest same-class training image closer than "
                + String(format: "%.2f", memorisationFraction) + " × the class's median nearest-other-training distance (pixel L2)")),
            JSONMember("cells", .array(cells)),
            JSONMember("groups", .array(groups)),
            JSONMember("overall", json(entry { _, _ in true }, [])),
        ])
    }

    static func json(_ e: Entry, _ head: [(String, JSONValue)]) -> JSONValue {
        .object(head.map { JSONMember($0.0, $0.1) } + [
            JSONMember("synthetic", .int(e.synthetic)),
            JSONMember("fidelity", .number(e.fidelity)),
            JSONMember("val", .int(e.validation)),
            JSONMember("auditor_val_accuracy", .number(e.auditorValidationAccuracy)),
            JSONMember("mmd", .number(e.mmd)),
            JSONMember("memorised", .number(e.memorised)),
        ])
    }

    static func argmaxRows(_ o: ClassifierOutputs) -> [Int] {
        (0..<o.count).map { i in
            var best = 0
            for j in 1..<max(o.classes, 1) where o.scores[i * o.classes + j] > o.scores[i * o.classes + best] { best = j }
            return best
        }
    }

    /// Per synthetic image: memorised (true/false), or nil when its class has fewer than two training images.
    static func memorisedFlags(synthetic: LabeledSet, train: LabeledSet) -> [Bool?] {
        var flags = [Bool?](repeating: nil, count: synthetic.classes.count)
        let d = train.images.imageSize
        precondition(synthetic.images.imageSize == d, "GeneratorAudit: synthetic and real images differ in size")
        func pixels(_ bank: ImageBank, _ idx: [Int]) -> [Float] {
            var out = [Float](); out.reserveCapacity(idx.count * d)
            for i in idx { for p in bank.pixels[(i * d)..<((i + 1) * d)] { out.append(Float(p) / 255) } }
            return out
        }
        for c in Set(synthetic.classes).sorted() {
            let t = train.classes.indices.filter { train.classes[$0] == c }
            let s = synthetic.classes.indices.filter { synthetic.classes[$0] == c }
            guard t.count >= 2 else { continue }
            let tp = pixels(train.images, t), sp = pixels(synthetic.images, s)
            let among = Quality.nearestDistances(tp, rows: t.count, tp, rows: t.count, dim: d, excludeDiagonal: true).sorted()
            let threshold = Double(among[among.count / 2]) * memorisationFraction
            let nearest = Quality.nearestDistances(sp, rows: s.count, tp, rows: t.count, dim: d)
            for (k, i) in s.enumerated() { flags[i] = Double(nearest[k]) < threshold }
        }
        return flags
    }
}
