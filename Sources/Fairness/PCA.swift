// Number of principal components needed to keep a fraction (the paper: 90 %) of the feature variance.
//
// The variances are the eigenvalues of the covariance of the centred features Xc (n × d). The nonzero
// eigenvalues of XcᵀXc (d × d) and XcXcᵀ (n × n) coincide (the Gram trick), so we diagonalise the smaller
// one. Eigenvalues come from a cyclic Jacobi iteration in Double: slow-ish (O(k³) per sweep) but simple,
// robust and accurate for the k ≤ 512 matrices used here. The 1/(n−1) factor cancels in the fraction.

/// Smallest k such that the k largest covariance eigenvalues hold at least `fraction` of their total;
/// 0 when the features have no variance at all.
public func principalComponentCount(_ features: FeatureSet, fraction: Double = 0.9) -> Int {
    precondition(fraction > 0 && fraction <= 1)
    let eigen = covarianceEigenvalues(features)
    let total = eigen.reduce(0, +)
    if total <= 0 { return 0 }
    var cumulative = 0.0
    for (k, value) in eigen.enumerated() {
        cumulative += value
        if cumulative / total >= fraction { return k + 1 }
    }
    return eigen.count
}

/// Eigenvalues of XcᵀXc for the column-centred features (descending; scale by 1/(n−1) for the
/// covariance), from whichever of XcᵀXc and XcXcᵀ is smaller. Negative round-off is clamped to 0.
public func covarianceEigenvalues(_ features: FeatureSet) -> [Double] {
    let n = features.rows, d = features.dimension
    if n < 2 { return [] }
    var centred = features.values.map(Double.init)
    for j in 0..<d {
        var mean = 0.0
        for i in 0..<n { mean += centred[i * d + j] }
        mean /= Double(n)
        for i in 0..<n { centred[i * d + j] -= mean }
    }
    let k = min(n, d)
    var gram = [Double](repeating: 0, count: k * k)
    centred.withUnsafeBufferPointer { x in
        gram.withUnsafeMutableBufferPointer { g in
            if d <= n {  // XcᵀXc: accumulate the outer product of every row (upper triangle)
                for i in 0..<n {
                    let row = x.baseAddress! + i &* d
                    for a in 0..<d {
                        let ra = row[a]
                        let out = g.baseAddress! + a &* d
                        for b in a..<d { out[b] += ra * row[b] }
                    }
                }
            } else {     // XcXcᵀ: dot products of rows
                for a in 0..<n {
                    let ra = x.baseAddress! + a &* d
                    for b in a..<n {
                        let rb = x.baseAddress! + b &* d
                        var s = 0.0
                        for j in 0..<d { s += ra[j] * rb[j] }
                        g[a &* n &+ b] = s
                    }
                }
            }
            for a in 0..<k { for b in 0..<a { g[a * k + b] = g[b * k + a] } }
        }
    }
    return symmetricEigenvalues(gram, size: k).map { max($0, 0) }.sorted(by: >)
}

/// Eigenvalues of the symmetric `size` × `size` matrix `a` (row-major) by cyclic Jacobi rotations, each
/// zeroing one off-diagonal pair (Golub & Van Loan §8.5), until the off-diagonal mass is below
/// 1e-28 of the total or 60 sweeps have run. Returned in diagonal order (unsorted).
public func symmetricEigenvalues(_ matrix: [Double], size n: Int, maxSweeps: Int = 60) -> [Double] {
    precondition(matrix.count == n * n)
    var a = matrix
    var total = 0.0
    for v in a { total += v * v }
    if total == 0 { return [Double](repeating: 0, count: n) }
    a.withUnsafeMutableBufferPointer { m in
        let p0 = m.baseAddress!
        for _ in 0..<maxSweeps {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += p0[p * n + q] * p0[p * n + q] } }
            if off <= 1e-28 * total { break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = p0[p &* n &+ q]
                    if apq == 0 { continue }
                    let app = p0[p &* n &+ p], aqq = p0[q &* n &+ q]
                    // Rotation angle: tan(θ) = t chosen as the smaller root of t² + 2τt − 1 = 0.
                    let tau = (aqq - app) / (2 * apq)
                    let t = (tau >= 0 ? 1 : -1) / (abs(tau) + (1 + tau * tau).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = t * c
                    // A ← Jᵀ A J: rows p, q then columns p, q (the matrix stays symmetric).
                    let rp = p0 + p &* n, rq = p0 + q &* n
                    for k in 0..<n {
                        let x = rp[k], y = rq[k]
                        rp[k] = c * x - s * y
                        rq[k] = s * x + c * y
                    }
                    for k in 0..<n {
                        let x = p0[k &* n &+ p], y = p0[k &* n &+ q]
                        p0[k &* n &+ p] = c * x - s * y
                        p0[k &* n &+ q] = s * x + c * y
                    }
                    p0[p &* n &+ q] = 0; p0[q &* n &+ p] = 0
                }
            }
        }
    }
    return (0..<n).map { a[$0 * n + $0] }
}
