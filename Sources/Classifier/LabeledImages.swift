import Tensors

/// Training targets for one label kind (DESIGN §3).
public enum Targets: Sendable, Equatable {
    /// Class index per example; −1 = unlabeled (never trained on, never scored).
    case single([Int], classes: Int)
    /// A probability vector per example, row-major `[N × classes]` (rows sum to 1; all-zero = unlabeled).
    case soft([Float], classes: Int)
    /// 0/1 per condition, row-major `[N × classes]`, with `mask` 1 where the value is known (uncertain → 0).
    case multi(values: [Float], mask: [Float], classes: Int)

    public var classes: Int {
        switch self {
        case .single(_, let k), .soft(_, let k), .multi(_, _, let k): return k
        }
    }

    public var count: Int {
        switch self {
        case .single(let y, _): return y.count
        case .soft(let p, let k): return p.count / k
        case .multi(let v, _, let k): return v.count / k
        }
    }

    /// Whether example `i` carries any label the classifier can learn from.
    public func isLabeled(_ i: Int) -> Bool {
        switch self {
        case .single(let y, _): return y[i] >= 0
        case .soft(let p, let k): return (0..<k).contains { p[i * k + $0] > 0 }
        case .multi(_, let m, let k): return (0..<k).contains { m[i * k + $0] > 0 }
        }
    }

    /// The hard class of example `i` (arg-max for soft labels; −1 when unlabeled or multi-label).
    public func hardLabel(_ i: Int) -> Int {
        switch self {
        case .single(let y, _): return y[i]
        case .soft(let p, let k):
            var best = -1; var bestValue: Float = 0
            for c in 0..<k where p[i * k + c] > bestValue { best = c; bestValue = p[i * k + c] }
            return best
        case .multi: return -1
        }
    }

    /// The targets of `indices`, in order.
    public func subset(_ indices: [Int]) -> Targets {
        switch self {
        case .single(let y, let k): return .single(indices.map { y[$0] }, classes: k)
        case .soft(let p, let k): return .soft(indices.flatMap { p[($0 * k)..<($0 * k + k)] }, classes: k)
        case .multi(let v, let m, let k):
            return .multi(values: indices.flatMap { v[($0 * k)..<($0 * k + k)] },
                          mask: indices.flatMap { m[($0 * k)..<($0 * k + k)] }, classes: k)
        }
    }
}

/// Images with their targets and the sensitive-attribute value of each (for oversampling; −1 = unknown).
public struct LabeledImages: Sendable {
    public var images: ImageBank
    public var targets: Targets
    public var groups: [Int]

    public init(images: ImageBank, targets: Targets, groups: [Int]? = nil) {
        precondition(images.count == targets.count, "LabeledImages: \(images.count) images, \(targets.count) targets")
        self.images = images
        self.targets = targets
        self.groups = groups ?? [Int](repeating: -1, count: targets.count)
        precondition(self.groups.count == targets.count, "LabeledImages: groups count")
    }

    public var count: Int { targets.count }

    /// Only the examples that carry a label (what the classifier trains on).
    public func labeledOnly() -> LabeledImages {
        subset((0..<count).filter { targets.isLabeled($0) })
    }

    /// The examples at `indices`, in order.
    public func subset(_ indices: [Int]) -> LabeledImages {
        LabeledImages(images: images.subset(indices), targets: targets.subset(indices), groups: indices.map { groups[$0] })
    }
}
