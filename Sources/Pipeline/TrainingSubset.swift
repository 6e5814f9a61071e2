import Datasets
import Foundation
import Store
import Text

/// What an experiment level does to the ingested dataset before the generator and the classifiers see it
/// (docs/experiments.md). It is a stage of its own, `experiment-subset`, whose output is a derived dataset
/// object: every downstream stage (train-ddpm, train-upsampler, fair-sample, classify, evaluate) takes that
/// object as its `dataset` input, so its key changes exactly when the level changes the training rows, and
/// the rows each stage trains on can never disagree. `val`, `test_id` and `test_ood` rows are never touched,
/// so every level is evaluated on the same rows.
public struct TrainingSubset: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Keep only `keep` of the minority value's rows (of `attribute`) in `train` (and in `unlabeled`
        /// too when `includeUnlabeled`, the generator's whole training source).
        case skew
        /// Keep the labels of only `keep` of the `train` rows per group (domain, else `attribute` value); the
        /// others move to `unlabeled` with no label (the generator gets zero label conditioning for them).
        case labelEfficiency = "label_efficiency"
    }

    public var kind: Kind
    /// Fraction kept, in [0, 1].
    public var keep: Double
    /// The attribute (skew: whose minority value; label efficiency: the groups when there is no domain).
    public var attribute: String?
    /// Also remove minority rows from `unlabeled` (translation scenarios: the generator's training source).
    public var includeUnlabeled: Bool
    public var seed: UInt64

    public init(kind: Kind, keep: Double, attribute: String?, includeUnlabeled: Bool = false, seed: UInt64) {
        self.kind = kind; self.keep = keep; self.attribute = attribute
        self.includeUnlabeled = includeUnlabeled; self.seed = seed
    }

    public static let stageName = "experiment-subset"
    /// Bump when the subset for the same inputs changes.
    public static let codeVersion = "experiment-subset-1"

    /// The stage: input `dataset`, output the derived dataset object (`object`) — the input itself when the
    /// level changes nothing (skew 0 %, all rows labeled), so that level shares every stage with a plain run.
    public func stage(dataset: ObjectID) throws -> Stage {
        let subset = self
        return try Stage(name: Self.stageName, codeVersion: Self.codeVersion, config: self, inputs: ["dataset": dataset]) { ctx in
            let d = try DatasetObject.decode(ctx.store.objects.read(dataset))
            guard let derived = try subset.apply(to: d) else { return [Store.singleOutputName: .object(dataset)] }
            return [Store.singleOutputName: .bytes(derived.encode())]
        }
    }

    /// The derived dataset, or nil when nothing changes.
    public func apply(to d: IngestedDataset) throws -> IngestedDataset? {
        let table = d.table
        let attributeIndex = attribute.flatMap { table.attributes.firstIndex(of: $0) }
        switch kind {
        case .skew:
            guard let a = attributeIndex else {
                throw PipelineError("experiment: attribute \(UntrustedText.quoted(attribute ?? "")) is not in the dataset's attributes")
            }
            // The minority is decided on the train rows (what the classifier learns from); with
            // `includeUnlabeled` the same value is thinned out of the unlabeled rows too.
            let train = table.rows.indices.filter { table.rows[$0].split == .train }
            let trainValues = train.map { table.rows[$0].attributes[a] }
            guard let minority = Sampling.minorityValue(trainValues) else { return nil }
            var removed = Set(train).subtracting(Sampling.skew(values: trainValues, keep: keep, seed: seed).map { train[$0] })
            if includeUnlabeled {
                let unlabeled = table.rows.indices.filter { table.rows[$0].split == .unlabeled }
                let values = unlabeled.map { table.rows[$0].attributes[a] }
                let kept = Sampling.skew(values: values, keep: keep, seed: seed &+ 1, minority: minority).map { unlabeled[$0] }
                removed.formUnion(Set(unlabeled).subtracting(kept))
            }
            guard !removed.isEmpty else { return nil }
            return Self.keeping(d, rows: table.rows.indices.filter { !removed.contains($0) })
        case .labelEfficiency:
            let train = table.rows.indices.filter { table.rows[$0].split == .train && table.rows[$0].isLabeled }
            let groups = train.map { r -> Int in
                let row = table.rows[r]
                if !table.domainValues.isEmpty { return row.domain }
                return attributeIndex.map { row.attributes[$0] } ?? 0
            }
            let kept = Set(Sampling.labelFraction(groups: groups, labeled: [Bool](repeating: true, count: train.count),
                                                  fraction: max(keep, Double.leastNonzeroMagnitude), seed: seed).map { train[$0] })
            guard kept.count < train.count else { return nil }
            var out = d
            for r in train where !kept.contains(r) {
                out.table.rows[r].split = .unlabeled
                out.table.rows[r].label = [Float](repeating: 0, count: table.classes.count)
                out.table.rows[r].labelMask = [UInt8](repeating: 0, count: table.classes.count)
            }
            return out
        }
    }

    /// `d` with only `rows` (ascending), images included.
    static func keeping(_ d: IngestedDataset, rows: [Int]) -> IngestedDataset {
        var out = d
        out.table.rows = rows.map { d.table.rows[$0] }
        out.images = d.images.map { set in
            let n = set.imageBytes
            var pixels: [UInt8] = []
            pixels.reserveCapacity(rows.count * n)
            for r in rows { pixels += set.pixels[(r * n)..<((r + 1) * n)] }
            return ImageSet(resolution: set.resolution, channels: set.channels, count: rows.count, pixels: pixels)
        }
        return out
    }
}
