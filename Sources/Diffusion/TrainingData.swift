import Tensors

/// One training minibatch: clean targets, the optional low-res conditioning image (cascaded upsampler,
/// concatenated to the noisy input along channels) and the conditioning vectors (after guidance dropout).
public struct TrainingBatch: Sendable {
    public var x0: Tensor
    public var lowRes: Tensor?
    public var cond: Tensor
}

/// A source of training minibatches. `batch` must be a pure function of (indices, rng state), so that a
/// resumed run that re-derives the step's generator rebuilds exactly the same batch.
public protocol DiffusionTrainingData {
    /// Number of training examples.
    var count: Int { get }
    /// The examples `indices` with their random augmentation and conditioning dropout drawn from `rng`.
    func batch(indices: [Int], rng: inout RNG) -> TrainingBatch
}

/// Copies sample `i` of an [N, …] tensor as a tensor of the trailing shape.
func sampleOf(_ x: Tensor, _ i: Int) -> Tensor {
    let m = x.count / x.shape[0]
    return Tensor(shape: Array(x.shape.dropFirst()), data: Array(x.data[(i * m)..<((i + 1) * m)]))
}

/// Training set of the base model: images [N, C, H, W] in [−1, 1] and conditioning vectors [N, F].
/// Per example, in order: a horizontal-flip coin (when enabled), then one uniform for conditioning dropout.
public struct ImageTrainingSet: DiffusionTrainingData {
    public let images: Tensor
    public let cond: Tensor
    /// Randomly mirror images left–right (off for modalities where laterality matters).
    public var horizontalFlip: Bool
    /// Probability of zeroing an example's whole conditioning vector.
    public var condDrop: Float

    public init(images: Tensor, cond: Tensor, horizontalFlip: Bool = true, condDrop: Float = 0.1) {
        precondition(images.rank == 4 && cond.rank == 2 && images.shape[0] == cond.shape[0] && images.shape[0] > 0,
                     "ImageTrainingSet: images \(images.shape), cond \(cond.shape)")
        self.images = images; self.cond = cond; self.horizontalFlip = horizontalFlip; self.condDrop = condDrop
    }

    public var count: Int { images.shape[0] }

    public func batch(indices: [Int], rng: inout RNG) -> TrainingBatch {
        var x = Batch.gather(images, indices)
        var c = Batch.gather(cond, indices)
        let f = cond.shape[1]
        for i in 0..<indices.count {
            if horizontalFlip && rng.uniform() < 0.5 { ImageOps.flipHorizontal(&x, sample: i) }
            if rng.uniform() < condDrop { for j in 0..<f { c.data[i * f + j] = 0 } }
        }
        return TrainingBatch(x0: x, lowRes: nil, cond: c)
    }
}

/// Training set of the cascaded upsampler: high-res images [N, C, H, W] in [−1, 1] and conditioning
/// vectors [N, F]. Each example's low-res input is made on the fly by `conditioner.trainingCondition`;
/// the model's conditioning vector is [cond (dropped with `condDrop`) | noise-level features].
/// Per example, in order: flip coin (when enabled), dropout uniform, then the conditioner's draws.
public struct UpsamplerTrainingSet: DiffusionTrainingData {
    public let images: Tensor
    public let cond: Tensor
    public let conditioner: UpsamplerConditioner
    public var horizontalFlip: Bool
    public var condDrop: Float

    public init(images: Tensor, cond: Tensor, conditioner: UpsamplerConditioner, horizontalFlip: Bool = true, condDrop: Float = 0.1) {
        precondition(images.rank == 4 && cond.rank == 2 && images.shape[0] == cond.shape[0] && images.shape[0] > 0,
                     "UpsamplerTrainingSet: images \(images.shape), cond \(cond.shape)")
        self.images = images; self.cond = cond; self.conditioner = conditioner
        self.horizontalFlip = horizontalFlip; self.condDrop = condDrop
    }

    public var count: Int { images.shape[0] }

    public func batch(indices: [Int], rng: inout RNG) -> TrainingBatch {
        var x = Batch.gather(images, indices)
        var c = Batch.gather(cond, indices)
        let f = cond.shape[1], m = x.count / indices.count
        var low = Tensor(zeros: x.shape)
        var levels = [Int](repeating: 0, count: indices.count)
        for i in 0..<indices.count {
            if horizontalFlip && rng.uniform() < 0.5 { ImageOps.flipHorizontal(&x, sample: i) }
            if rng.uniform() < condDrop { for j in 0..<f { c.data[i * f + j] = 0 } }
            let (z, s) = conditioner.trainingCondition(sampleOf(x, i), rng: &rng)
            low.data.replaceSubrange((i * m)..<((i + 1) * m), with: z.data)
            levels[i] = s
        }
        return TrainingBatch(x0: x, lowRes: low, cond: conditioner.appendLevels(c, levels: levels))
    }
}

/// Another training set seen through `mapping` (virtual index → example), so that the trainer's uniform
/// draws over `0..<mapping.count` follow the distribution the mapping encodes — e.g. every value of a
/// sensitive attribute equally often (`balancedMapping`). Nothing is copied: only indices are repeated.
public struct ResampledTrainingSet: DiffusionTrainingData {
    public let base: any DiffusionTrainingData
    public let mapping: [Int]

    public init(base: any DiffusionTrainingData, mapping: [Int]) {
        precondition(!mapping.isEmpty && mapping.allSatisfy { $0 >= 0 && $0 < base.count },
                     "ResampledTrainingSet: mapping must be non-empty and index the base set (\(base.count) examples)")
        self.base = base; self.mapping = mapping
    }

    public var count: Int { mapping.count }

    public func batch(indices: [Int], rng: inout RNG) -> TrainingBatch {
        base.batch(indices: indices.map { mapping[$0] }, rng: &rng)
    }

    /// A mapping in which every group is as frequent as the largest one: each group's examples, in order,
    /// repeated cyclically up to that size. `groups[i]` is example i's group (any Int; −1 for unknown is
    /// simply one more group). Deterministic.
    public static func balancedMapping(groups: [Int]) -> [Int] {
        var members: [Int: [Int]] = [:]
        for (i, g) in groups.enumerated() { members[g, default: []].append(i) }
        let target = members.values.map(\.count).max() ?? 0
        var out: [Int] = []
        out.reserveCapacity(target * members.count)
        for g in members.keys.sorted() {
            let m = members[g]!
            for k in 0..<target { out.append(m[k % m.count]) }
        }
        return out
    }
}
