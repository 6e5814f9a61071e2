// Maximum mean discrepancy between two feature sets (Ktena et al., Methods Eq. 4) with the cubic
// polynomial kernel k(x, y) = (xᵀy / d + 1)³, and the Mann–Whitney U test used to compare two variants'
// MMD estimates.
//
// Unbiased MMD² of samples X (m rows) and Y (n rows):
//   1/(m(m−1)) Σ_{i≠j} k(xᵢ,xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ,yⱼ) − 2/(mn) Σ_{i,j} k(xᵢ,yⱼ).
// Gram matrices come from BLAS (Float32); the kernel and every sum are evaluated in Double.
import Tensors

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A set of feature vectors: `rows` × `dimension`, row-major Float32 (e.g. penultimate-layer features).
public struct FeatureSet: Sendable {
    public let rows: Int
    public let dimension: Int
    public var values: [Float]

    /// Wraps `values` (`rows * dimension` entries, row-major).
    public init(rows: Int, dimension: Int, values: [Float]) {
        precondition(rows >= 0 && dimension > 0 && values.count == rows * dimension,
                     "FeatureSet: \(values.count) values for \(rows)×\(dimension)")
        self.rows = rows; self.dimension = dimension; self.values = values
    }

    /// The rows at `indices`, in that order.
    public func selecting(rows indices: [Int]) -> FeatureSet {
        var out = [Float](); out.reserveCapacity(indices.count * dimension)
        for i in indices { out.append(contentsOf: values[(i * dimension)..<((i + 1) * dimension)]) }
        return FeatureSet(rows: indices.count, dimension: dimension, values: out)
    }
}

/// Σ over entries of k applied to the Gram matrix A·Bᵀ (A: a.rows × d, B: b.rows × d), skipping the
/// diagonal when `offDiagonal` (A and B are then the same set).
func cubicKernelSum(_ a: FeatureSet, _ b: FeatureSet, offDiagonal: Bool) -> Double {
    let m = a.rows, n = b.rows, d = a.dimension
    var gram = [Float](repeating: 0, count: m * n)
    a.values.withUnsafeBufferPointer { pa in
        b.values.withUnsafeBufferPointer { pb in
            gram.withUnsafeMutableBufferPointer { pg in
                // One OpenBLAS thread: its multi-threaded sgemm rounds differently, and the global thread
                // count may be changed by other work in the process; the estimate must not depend on it.
                BLAS.singleThreaded {
                    BLAS.gemm(transB: true, m: m, n: n, k: d, a: pa.baseAddress!, b: pb.baseAddress!,
                              c: pg.baseAddress!)
                }
            }
        }
    }
    let invD = 1 / Double(d)
    var total = 0.0
    for i in 0..<m {
        var rowSum = 0.0
        for j in 0..<n where !(offDiagonal && i == j) {
            let t = Double(gram[i &* n &+ j]) * invD + 1
            rowSum += t * t * t
        }
        total += rowSum
    }
    return total
}

/// Unbiased MMD² between `x` and `y` with the cubic polynomial kernel (both need ≥ 2 rows).
public func mmdSquared(_ x: FeatureSet, _ y: FeatureSet) -> Double {
    precondition(x.dimension == y.dimension, "MMD: feature dimensions differ (\(x.dimension) vs \(y.dimension))")
    precondition(x.rows >= 2 && y.rows >= 2, "MMD: each set needs at least 2 rows")
    let m = Double(x.rows), n = Double(y.rows)
    let kxx = cubicKernelSum(x, x, offDiagonal: true)
    let kyy = cubicKernelSum(y, y, offDiagonal: true)
    let kxy = cubicKernelSum(x, y, offDiagonal: false)
    return kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2 * kxy / (m * n)
}

/// S repeated MMD² estimates on random subsamples and their summary.
public struct MMDEstimates: Sendable, Equatable {
    /// The S estimates, in draw order.
    public var estimates: [Double]
    /// Mean and sample standard deviation (ddof = 1; 0 for S = 1) of the estimates.
    public var mean: Double
    public var std: Double
    /// Rows drawn from each set per estimate (min(n, rows) for each set; both reported).
    public var sampleSizeX: Int
    public var sampleSizeY: Int
}

/// `repeats` estimates (the paper: S = 30) of MMD² between subsamples of `sampleSize` rows (n = 300)
/// drawn without replacement from each set; a set with fewer rows is used whole. Estimate s draws from
/// `RNG(seed).split(s)`, so results are reproducible and independent of evaluation order.
public func mmdEstimates(_ x: FeatureSet, _ y: FeatureSet, sampleSize: Int = 300, repeats: Int = 30,
                         seed: UInt64) -> MMDEstimates {
    precondition(repeats >= 1 && sampleSize >= 2)
    let base = RNG(seed: seed)
    let mx = min(sampleSize, x.rows), my = min(sampleSize, y.rows)
    var estimates = [Double]()
    for s in 0..<repeats {
        var rng = base.split(UInt64(s))
        let xs = x.selecting(rows: sampleWithoutReplacement(count: mx, from: x.rows, &rng))
        let ys = y.selecting(rows: sampleWithoutReplacement(count: my, from: y.rows, &rng))
        estimates.append(mmdSquared(xs, ys))
    }
    let stats = meanAndStd(estimates, ddof: 1)
    return MMDEstimates(estimates: estimates, mean: stats.mean, std: stats.std ?? 0, sampleSizeX: mx, sampleSizeY: my)
}

/// `count` distinct indices from 0..<population (partial Fisher–Yates), in draw order.
public func sampleWithoutReplacement(count: Int, from population: Int, _ rng: inout RNG) -> [Int] {
    precondition(count <= population)
    var pool = Array(0..<population)
    for i in 0..<count {
        let j = i + rng.int(below: population - i)
        pool.swapAt(i, j)
    }
    return Array(pool[0..<count])
}

/// Result of a two-sided Mann–Whitney U test.
public struct MannWhitneyResult: Sendable, Equatable {
    /// U statistic of the first sample (scipy's `statistic`): R₁ − n₁(n₁+1)/2.
    public var u: Double
    /// Two-sided p-value, normal approximation with tie correction and continuity correction.
    public var p: Double
}

/// Two-sided Mann–Whitney U test, as `scipy.stats.mannwhitneyu(x, y, method="asymptotic",
/// use_continuity=True)`: z = (max(U₁, U₂) − n₁n₂/2 − ½) / σ with
/// σ² = n₁n₂/12 · ((N+1) − Σ(t³−t)/(N(N−1))), p = 2·(1 − Φ(z)) clipped to [0, 1].
public func mannWhitneyU(_ x: [Double], _ y: [Double]) -> MannWhitneyResult {
    precondition(!x.isEmpty && !y.isEmpty)
    let n1 = Double(x.count), n2 = Double(y.count), total = n1 + n2
    let (ranks, tieTerm) = averageRanks(x + y)
    var r1 = 0.0
    for i in 0..<x.count { r1 += ranks[i] }
    let u1 = r1 - n1 * (n1 + 1) / 2
    let u = max(u1, n1 * n2 - u1)
    let sigma = (n1 * n2 / 12 * ((total + 1) - tieTerm / (total * (total - 1)))).squareRoot()
    let numerator = u - n1 * n2 / 2 - 0.5
    // σ = 0 only when every value is tied: z = −∞ there and scipy's p clips to 1.
    let p = sigma > 0 ? erfc(numerator / sigma / 2.0.squareRoot()) : 1
    return MannWhitneyResult(u: u1, p: min(max(p, 0), 1))
}

/// 1-based average ranks (ties share their mean rank) and Σ(t³ − t) over tie groups.
func averageRanks(_ v: [Double]) -> (ranks: [Double], tieTerm: Double) {
    let order = v.indices.sorted { v[$0] < v[$1] }
    var ranks = [Double](repeating: 0, count: v.count)
    var tieTerm = 0.0
    var g = 0
    while g < order.count {
        var end = g
        while end < order.count && v[order[end]] == v[order[g]] { end += 1 }
        let rank = Double(g + 1 + end) / 2          // mean of ranks g+1 … end
        for k in g..<end { ranks[order[k]] = rank }
        let t = Double(end - g)
        tieTerm += t * t * t - t
        g = end
    }
    return (ranks, tieTerm)
}
