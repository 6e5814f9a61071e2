import Tensors

/// Index-level sampling plans used by the pipeline: real/synthetic mixing, attribute oversampling,
/// fair-sampling plans, skewing and label-efficiency subsets. Pure functions of their inputs and a seed.
public enum Sampling {
    /// Where one training example comes from.
    public enum Pick: Equatable, Sendable {
        case real(Int)
        case synthetic(Int)
    }

    /// Ktena et al. Eq. 2–3: each example is drawn from the real set with probability α and from the synthetic
    /// set with probability 1 − α (uniformly within the set). α = 1 is real only, α = 0 synthetic only.
    /// Batch `step` depends only on (seed, step), so a resumed run draws the same batches.
    public struct MixedSource: Sendable {
        public let realCount: Int
        public let syntheticCount: Int
        public let alpha: Double
        public let seed: UInt64

        public init(realCount: Int, syntheticCount: Int, alpha: Double, seed: UInt64) {
            precondition(alpha >= 0 && alpha <= 1, "alpha must be in [0, 1]")
            precondition(realCount > 0 || alpha == 0, "alpha > 0 needs real examples")
            precondition(syntheticCount > 0 || alpha == 1, "alpha < 1 needs synthetic examples")
            self.realCount = realCount; self.syntheticCount = syntheticCount
            self.alpha = alpha; self.seed = seed
        }

        /// The `size` picks of training step `step`.
        public func batch(step: Int, size: Int) -> [Pick] {
            var rng = RNG(seed: seed).split(UInt64(step))
            return (0..<size).map { _ in
                let useReal = alpha >= 1 || (alpha > 0 && rng.uniformDouble() < alpha)
                return useReal ? .real(rng.int(below: realCount)) : .synthetic(rng.int(below: syntheticCount))
            }
        }
    }

    /// An epoch order over `groups.count` examples in which every group value appears equally often:
    /// each group contributes `count / groupCount` draws (with replacement only where a group is smaller).
    /// Rows with group −1 (unknown) are left out. This is the `oversample` baseline.
    public static func balancedOrder(groups: [Int], count: Int, seed: UInt64) -> [Int] {
        var members: [Int: [Int]] = [:]
        for (i, g) in groups.enumerated() where g >= 0 { members[g, default: []].append(i) }
        let keys = members.keys.sorted()
        guard !keys.isEmpty, count > 0 else { return [] }
        var rng = RNG(seed: seed)
        var out: [Int] = []
        out.reserveCapacity(count)
        for (k, g) in keys.enumerated() {
            let share = count / keys.count + (k < count % keys.count ? 1 : 0)
            var pool = members[g]!
            var drawn = 0
            while drawn < share {       // whole shuffled passes, then a partial one
                shuffle(&pool, &rng)
                let take = min(pool.count, share - drawn)
                out += pool[0..<take]
                drawn += take
            }
        }
        shuffle(&out, &rng)
        return out
    }

    /// The paper's fair-sampling plan: `count` (label, attribute-value) pairs with the label distribution
    /// of `labels` kept (p̂(y) = p(y)) and attribute values uniform (p̂(a) uniform), independently.
    /// Counts are allocated exactly (largest remainder), then shuffled.
    public static func fairPlan(labels: [Int], classCount: Int, attributeValues: Int, count: Int,
                                seed: UInt64) -> [(label: Int, attribute: Int)] {
        precondition(attributeValues > 0 && classCount > 0)
        var hist = [Double](repeating: 0, count: classCount)
        for y in labels where y >= 0 && y < classCount { hist[y] += 1 }
        let perLabel = allocate(count, weights: hist)
        var plan: [(label: Int, attribute: Int)] = []
        plan.reserveCapacity(count)
        var rng = RNG(seed: seed)
        for (y, n) in perLabel.enumerated() {
            let perAttr = allocate(n, weights: [Double](repeating: 1, count: attributeValues))
            // Rotate which attribute gets the remainder so small counts do not always favour value 0.
            let offset = rng.int(below: attributeValues)
            for (a, m) in perAttr.enumerated() {
                for _ in 0..<m { plan.append((y, (a + offset) % attributeValues)) }
            }
        }
        var order = Array(plan.indices)
        shuffle(&order, &rng)
        return order.map { plan[$0] }
    }

    /// Progressive skew along an attribute: keeps every row except that, for the least represented value
    /// among `candidates` (rows with value ≥ 0), only a fraction `keep` of its rows survives (seeded, nested:
    /// the rows kept at a smaller fraction are a subset of those kept at a larger one). Returns kept indices.
    /// `minority` names the value to thin out instead (e.g. the one found on another split).
    public static func skew(values: [Int], keep: Double, seed: UInt64, minority given: Int? = nil) -> [Int] {
        precondition(keep >= 0 && keep <= 1)
        guard let minority = given ?? minorityValue(values) else { return Array(values.indices) }
        var rows = values.indices.filter { values[$0] == minority }
        var rng = RNG(seed: seed)
        shuffle(&rows, &rng)
        let kept = Set(rows.prefix(Int((Double(rows.count) * keep).rounded(.down))))
        return values.indices.filter { values[$0] != minority || kept.contains($0) }
    }

    /// The least represented value among `values` (those ≥ 0; ties → the smaller value), nil when there is none.
    public static func minorityValue(_ values: [Int]) -> Int? {
        var counts: [Int: Int] = [:]
        for v in values where v >= 0 { counts[v, default: 0] += 1 }
        return counts.min(by: { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key })?.key
    }

    /// Label-efficiency subset: at most `perDomain` labeled rows per domain value (seeded, nested in
    /// `perDomain`); rows with `labeled[i] == false` are always kept (the DDPM still uses unlabeled data).
    public static func labelBudget(domains: [Int], labeled: [Bool], perDomain: Int, seed: UInt64) -> [Int] {
        precondition(domains.count == labeled.count)
        var byDomain: [Int: [Int]] = [:]
        for i in domains.indices where labeled[i] { byDomain[domains[i], default: []].append(i) }
        var keep = Set<Int>()
        for d in byDomain.keys.sorted() {
            var rows = byDomain[d]!
            var rng = RNG(seed: seed).split(UInt64(bitPattern: Int64(d)))
            shuffle(&rows, &rng)
            keep.formUnion(rows.prefix(perDomain))
        }
        return domains.indices.filter { !labeled[$0] || keep.contains($0) }
    }

    /// Label-efficiency subset by fraction (Ktena et al. Ext. Fig. 1a): within each group value (domain or
    /// attribute value; −1 is a group of its own), `fraction` of the labeled rows (rounded, at least one)
    /// stay labeled. Uses the per-group draws of `labelBudget`, so for one seed the rows kept at a smaller
    /// fraction are a subset of those kept at a larger one. Returns the indices that stay labeled, ascending.
    public static func labelFraction(groups: [Int], labeled: [Bool], fraction: Double, seed: UInt64) -> [Int] {
        precondition(groups.count == labeled.count && fraction > 0 && fraction <= 1)
        var counts: [Int: Int] = [:]
        for i in groups.indices where labeled[i] { counts[groups[i], default: 0] += 1 }
        var kept = Set<Int>()
        for (g, n) in counts {
            let budget = max(1, Int((Double(n) * fraction).rounded()))
            // labelBudget over this group alone: the same shuffle (seeded per group value) for every fraction.
            let mask = groups.indices.map { labeled[$0] && groups[$0] == g }
            kept.formUnion(labelBudget(domains: groups, labeled: mask, perDomain: budget, seed: seed).filter { mask[$0] })
        }
        return kept.sorted()
    }

    /// Splits `total` into integer parts proportional to `weights` (largest-remainder method; ties → lower index).
    public static func allocate(_ total: Int, weights: [Double]) -> [Int] {
        let sum = weights.reduce(0, +)
        guard sum > 0, total > 0 else { return [Int](repeating: 0, count: weights.count) }
        let exact = weights.map { Double(total) * $0 / sum }
        var parts = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { (exact[$0] - Double(parts[$0]), $1) > (exact[$1] - Double(parts[$1]), $0) }
        var left = total - parts.reduce(0, +)
        for i in order where left > 0 { parts[i] += 1; left -= 1 }
        return parts
    }

    /// Fisher–Yates with the project RNG (deterministic for a seed).
    public static func shuffle<T>(_ a: inout [T], _ rng: inout RNG) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, rng.int(below: i + 1)) }
    }
}
