import Tensors

/// Quality signals that need no pretrained network.
///
/// Memorisation check: for each generated sample, the L2 distance to its nearest *training* image of the
/// same class. A sample that copies a training image has distance ≈ 0. As a yardstick the report also gives
/// the same statistic among the training images themselves (each to its nearest other training image of
/// the class): samples that are much closer to the training set than training images are to each other
/// point to memorisation.
public enum Quality {
    /// Per-class result of `memorisation`.
    public struct ClassReport: Sendable, Equatable {
        public var samples: Int
        /// Mean over samples of the distance to the nearest same-class training image.
        public var meanNearestDistance: Double
        /// Smallest such distance.
        public var minNearestDistance: Double
        /// Mean nearest-other-training-image distance within the class (nil with < 2 training images).
        public var trainingBaseline: Double?
    }

    /// Squared L2 distance of every row of `a` [Na, D] to every row of `b` [Nb, D] → [Na, Nb],
    /// as ‖a‖² + ‖b‖² − 2·a·bᵀ with one gemm (clamped at 0 against rounding).
    public static func squaredDistances(_ a: [Float], rows na: Int, _ b: [Float], rows nb: Int, dim d: Int) -> [Float] {
        precondition(a.count == na * d && b.count == nb * d, "squaredDistances: sizes do not match")
        var out = [Float](repeating: 0, count: na * nb)
        if na == 0 || nb == 0 { return out }
        func norms(_ x: [Float], _ n: Int) -> [Float] {
            (0..<n).map { i in var s: Float = 0; for j in 0..<d { let v = x[i * d + j]; s += v * v }; return s }
        }
        let an = norms(a, na), bn = norms(b, nb)
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { op in
            // One OpenBLAS thread, as in the layers: results must not depend on the thread count.
            BLAS.singleThreaded {
                BLAS.gemm(transB: true, m: na, n: nb, k: d, alpha: -2, a: ap.baseAddress!, b: bp.baseAddress!, c: op.baseAddress!)
            }
        } } }
        for i in 0..<na { for j in 0..<nb { out[i * nb + j] = max(out[i * nb + j] + an[i] + bn[j], 0) } }
        return out
    }

    /// Distance from each row of `a` to its nearest row of `b` (excluding index i of b for row i when
    /// `excludeDiagonal`, for a set against itself).
    public static func nearestDistances(_ a: [Float], rows na: Int, _ b: [Float], rows nb: Int, dim d: Int,
                                        excludeDiagonal: Bool = false) -> [Float] {
        let d2 = squaredDistances(a, rows: na, b, rows: nb, dim: d)
        return (0..<na).map { i in
            var best = Float.infinity
            for j in 0..<nb where !(excludeDiagonal && i == j) { best = min(best, d2[i * nb + j]) }
            return best.squareRoot()
        }
    }

    /// Per-class nearest-neighbour memorisation report. `samples` [Ns, …] with `sampleClasses`, `training`
    /// [Nt, …] with `trainingClasses` (same trailing shape). Classes with no training image are skipped.
    public static func memorisation(samples: Tensor, sampleClasses: [Int], training: Tensor,
                                    trainingClasses: [Int]) -> [Int: ClassReport] {
        precondition(samples.shape.dropFirst() == training.shape.dropFirst(), "memorisation: \(samples.shape) vs \(training.shape)")
        precondition(samples.shape[0] == sampleClasses.count && training.shape[0] == trainingClasses.count, "memorisation: class counts")
        let d = samples.count / max(samples.shape[0], 1)
        var report: [Int: ClassReport] = [:]
        for c in Set(sampleClasses).sorted() {
            let si = sampleClasses.indices.filter { sampleClasses[$0] == c }
            let ti = trainingClasses.indices.filter { trainingClasses[$0] == c }
            if ti.isEmpty { continue }
            let s = Batch.gather(samples, si).data, t = Batch.gather(training, ti).data
            let nn = nearestDistances(s, rows: si.count, t, rows: ti.count, dim: d)
            var baseline: Double? = nil
            if ti.count >= 2 {
                let tt = nearestDistances(t, rows: ti.count, t, rows: ti.count, dim: d, excludeDiagonal: true)
                baseline = tt.reduce(0.0) { $0 + Double($1) } / Double(tt.count)
            }
            report[c] = ClassReport(samples: si.count,
                                    meanNearestDistance: nn.reduce(0.0) { $0 + Double($1) } / Double(nn.count),
                                    minNearestDistance: Double(nn.min() ?? 0), trainingBaseline: baseline)
        }
        return report
    }
}
