// Aggregation over training seeds (DESIGN §6: every number becomes {"mean", "std", "per_seed"}).
//
// Convention: std is the *sample* standard deviation (ddof = 1), the unbiased-variance estimate across
// independently seeded runs; with a single seed it is undefined (null). numpy's default (ddof = 0) would
// understate the spread by √((k−1)/k) ≈ 0.89 for the paper's 5 seeds. Undefined per-seed values (null)
// are listed as null and left out of mean and std.

/// Mean and standard deviation with `ddof` (std is `nil` when fewer than ddof + 1 values).
public func meanAndStd(_ values: [Double], ddof: Int = 1) -> (mean: Double, std: Double?) {
    precondition(!values.isEmpty)
    let mean = values.reduce(0, +) / Double(values.count)
    if values.count <= ddof { return (mean, nil) }
    var ss = 0.0
    for v in values { ss += (v - mean) * (v - mean) }
    return (mean, (ss / Double(values.count - ddof)).squareRoot())
}

/// One metric across seeds.
public struct SeedStatistic: Sendable, Equatable {
    /// Mean of the defined per-seed values; `nil` when none is defined.
    public var mean: Double?
    /// Sample standard deviation (ddof = 1) of the defined values; `nil` with fewer than two.
    public var std: Double?
    /// The per-seed values in seed order (`nil` where undefined).
    public var perSeed: [Double?]

    /// `{"mean", "std", "per_seed"}`.
    public var json: JSONValue {
        .fields(["mean": .number(mean), "std": .number(std), "per_seed": .array(perSeed.map { .number($0) })])
    }
}

/// Aggregates one metric over seeds.
public func aggregateSeeds(_ perSeed: [Double?]) -> SeedStatistic {
    let defined = perSeed.compactMap { $0 }.filter(\.isFinite)
    if defined.isEmpty { return SeedStatistic(mean: nil, std: nil, perSeed: perSeed) }
    let s = meanAndStd(defined, ddof: 1)
    return SeedStatistic(mean: s.mean, std: s.std, perSeed: perSeed)
}

/// Aggregates per-seed JSON trees of the same shape (e.g. `SplitMetrics.json` of each seed) into the
/// seed-aggregated form: objects are merged key by key (keys in order of first appearance; a key missing
/// from a seed counts as null there), and every number or null leaf becomes `{"mean","std","per_seed"}`.
/// Strings, booleans and arrays are not metrics: they are kept from the first seed that has them.
public func aggregateSeeds(_ perSeed: [JSONValue]) -> JSONValue {
    precondition(!perSeed.isEmpty)
    let objects = perSeed.compactMap { value -> [JSONMember]? in
        if case .object(let m) = value { return m } else { return nil }
    }
    if !objects.isEmpty {
        var keys = [String]()
        var seen = Set<String>()
        for members in objects { for m in members where seen.insert(m.key).inserted { keys.append(m.key) } }
        return .object(keys.map { key in
            JSONMember(key, aggregateSeeds(perSeed.map { $0[key] ?? .null }))
        })
    }
    if perSeed.allSatisfy({ $0 == .null || $0.doubleValue != nil }) {
        return aggregateSeeds(perSeed.map(\.doubleValue)).json
    }
    return perSeed.first { $0 != .null } ?? .null
}
