// Number of principal components needed to keep a fraction (the paper: 90 %) of the feature variance.
//
// The variances are the eigenvalues of the covariance of the centred features Xc (n × d). The nonzero
// eigenvalues of XcᵀXc (d × d) and XcXcᵀ (n × n) coincide (the Gram trick), so we diagonalise the smaller
// one. Eigenvalues (no vectors) in Double: Householder reduction to tridiagonal form, then implicit QL
// with Wilkinson shifts (Golub & Van Loan §8.3) — O(k³) once, well under a second for k = 512, where
// cyclic Jacobi (kept in the tests as the reference) needs ~25 s. The 1/(n−1) factor cancels in the fraction.

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

/// Eigenvalues of the symmetric `size` × `size` matrix (row-major), unsorted: Householder
/// tridiagonalisation followed by implicit-shift QL on the tridiagonal matrix.
public func symmetricEigenvalues(_ matrix: [Double], size n: Int) -> [Double] {
    precondition(matrix.count == n * n)
    if n == 0 { return [] }
    var (diagonal, offDiagonal) = householderTridiagonal(matrix, size: n)
    tridiagonalQL(&diagonal, &offDiagonal)
    return diagonal
}

/// Reduces symmetric A to tridiagonal T = QᵀAQ with Householder reflections H = I − 2vvᵀ (‖v‖ = 1).
/// Returns T's diagonal and sub-diagonal (`off[i]` couples i and i+1; `off[n−1]` = 0).
func householderTridiagonal(_ matrix: [Double], size n: Int) -> (diagonal: [Double], off: [Double]) {
    var a = matrix
    var diagonal = [Double](repeating: 0, count: n), off = [Double](repeating: 0, count: n)
    var v = [Double](repeating: 0, count: n), w = [Double](repeating: 0, count: n)
    a.withUnsafeMutableBufferPointer { m in
        let p0 = m.baseAddress!
        for k in 0..<max(n - 2, 0) {
            // x = A[k+1..., k]; reflect it onto −sign(x₀)‖x‖ e₁ (the sign avoids cancellation).
            var norm2 = 0.0
            for i in (k + 1)..<n { norm2 += p0[i &* n &+ k] * p0[i &* n &+ k] }
            let x0 = p0[(k + 1) &* n &+ k]
            let alpha = x0 >= 0 ? -norm2.squareRoot() : norm2.squareRoot()
            diagonal[k] = p0[k &* n &+ k]
            off[k] = alpha
            if norm2 == 0 { off[k] = 0; continue }
            for i in (k + 1)..<n { v[i] = p0[i &* n &+ k] }
            v[k + 1] -= alpha
            var vnorm2 = 0.0
            for i in (k + 1)..<n { vnorm2 += v[i] * v[i] }
            if vnorm2 == 0 { continue }            // x is already a multiple of e₁
            let inv = 1 / vnorm2.squareRoot()
            for i in (k + 1)..<n { v[i] *= inv }
            // Trailing block B ← HBH = B − 2vqᵀ − 2qvᵀ with w = Bv, q = w − (vᵀw)v.
            for i in (k + 1)..<n {
                let row = p0 + i &* n
                var s = 0.0
                for j in (k + 1)..<n { s += row[j] * v[j] }
                w[i] = s
            }
            var vw = 0.0
            for i in (k + 1)..<n { vw += v[i] * w[i] }
            for i in (k + 1)..<n { w[i] -= vw * v[i] }
            for i in (k + 1)..<n {
                let row = p0 + i &* n
                let vi = 2 * v[i], wi = 2 * w[i]
                for j in (k + 1)..<n { row[j] -= vi * w[j] + wi * v[j] }
            }
        }
        if n >= 2 {
            diagonal[n - 2] = p0[(n - 2) &* n &+ (n - 2)]
            off[n - 2] = p0[(n - 1) &* n &+ (n - 2)]
        }
        diagonal[n - 1] = p0[(n - 1) &* n &+ (n - 1)]
        off[n - 1] = 0
    }
    return (diagonal, off)
}

/// Eigenvalues of the symmetric tridiagonal matrix (`d` diagonal, `e[i]` between i and i+1), in place
/// into `d`, by QL sweeps with an implicit Wilkinson shift; each sweep chases the bulge with Givens
/// rotations from the bottom of the unreduced block up to row l.
func tridiagonalQL(_ d: inout [Double], _ e: inout [Double]) {
    let n = d.count
    for l in 0..<n {
        var iterations = 0
        while true {
            // The block l...m is unreduced; m is where the sub-diagonal is negligible.
            var m = l
            while m < n - 1 {
                let scale = abs(d[m]) + abs(d[m + 1])
                if abs(e[m]) <= Double.ulpOfOne * scale { break }
                m += 1
            }
            if m == l { break }
            iterations += 1
            precondition(iterations <= 100, "tridiagonal QL did not converge")
            // Wilkinson shift from the leading 2×2 block, folded into g = d[m] − shift.
            var g = (d[l + 1] - d[l]) / (2 * e[l])
            var r = (g * g + 1).squareRoot()
            g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r))
            var s = 1.0, c = 1.0, p = 0.0
            var i = m - 1
            var deflated = false
            while i >= l {
                let f = s * e[i], b = c * e[i]
                r = (f * f + g * g).squareRoot()
                e[i + 1] = r
                if r == 0 {                        // underflow: split the block here and restart
                    d[i + 1] -= p; e[m] = 0; deflated = true
                    break
                }
                s = f / r; c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
                i -= 1
            }
            if deflated { continue }
            d[l] -= p; e[l] = g; e[m] = 0
        }
    }
}
