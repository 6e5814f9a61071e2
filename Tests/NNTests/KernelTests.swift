import CKernels
import Foundation
import Testing
@testable import NN
import Tensors

/// The `CKernels` implementations, each level run explicitly through its table: against straightforward
/// Swift references (in Double) on random data whose sizes are not multiples of the 16-lane blocks, and
/// bit-identical to the portable level. A level this CPU cannot run is skipped with the reason.
@Suite struct KernelTests {
    static let sizes = [0, 1, 15, 16, 17, 1000]
    static let avx2 = Int32(FG_LEVEL_AVX2), avx512 = Int32(FG_LEVEL_AVX512), scalar = Int32(FG_LEVEL_SCALAR)

    static func table(_ level: Int32) -> fg_kernel_table {
        guard let t = fg_kernels_table(level) else { fatalError("kernel level \(level) is not available") }
        return t.pointee
    }

    static func random(_ n: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) -> [Float] {
        LayerTest.random([n], seed: seed, scale: scale).data.map { $0 + offset }
    }

    /// Largest |a − b| / (atol + rtol·|b|); ≤ 1 means every element is within tolerance.
    static func worst(_ a: [Float], _ b: [Double], rtol: Double, atol: Double) -> Double {
        precondition(a.count == b.count)
        var w = 0.0
        for i in a.indices { w = max(w, abs(Double(a[i]) - b[i]) / (atol + rtol * abs(b[i]))) }
        return w
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

    // MARK: - one test per level

    @Test func scalarLevel() { KernelTests.checkLevel(KernelTests.scalar) }

    @Test(.enabled(if: fg_kernels_best_level() >= KernelTests.avx2, "this CPU (or its OS) lacks AVX2 + FMA"))
    func avx2Level() { KernelTests.checkLevel(KernelTests.avx2) }

    @Test(.enabled(if: fg_kernels_best_level() >= KernelTests.avx512,
                   "this CPU (or its OS) lacks AVX-512F, so the AVX-512 level cannot run here"))
    func avx512Level() { KernelTests.checkLevel(KernelTests.avx512) }

    static func checkLevel(_ level: Int32) {
        let t = table(level)
        #expect(t.level == level)
        checkExp(t)
        for n in sizes {
            checkElementwise(t, n: n)
            checkSoftmax(t, width: n)
            checkGroupNorm(t, channels: 3, spatial: n)
            checkAdam(t, n: n)
        }
    }

    // MARK: - exp

    /// exp against libm over every 61st float in [−104.5, 89.5]: within 1.2e-7 relative (≈ 1 ulp) for
    /// normal results, one subnormal ulp below them; the special cases exactly.
    static func checkExp(_ t: fg_kernel_table) {
        var worstRel = 0.0, worstSub = 0.0, checked = 0
        var xs = [Float](), ys = [Float](repeating: 0, count: 4096)
        func flush() {
            t.exp!(xs, &ys, xs.count)
            for i in xs.indices {
                let ref = Foundation.exp(Double(xs[i])), y = Double(ys[i])
                if ref < Double(Float.leastNormalMagnitude) {
                    worstSub = max(worstSub, abs(y - ref) / Double(Float.leastNonzeroMagnitude))
                } else if ref <= Double(Float.greatestFiniteMagnitude) {
                    worstRel = max(worstRel, abs(y - ref) / ref)
                } else {
                    // Just above the largest float, rounding down to it is also correct.
                    #expect(ys[i] == .infinity || abs(y - ref) / ref <= 1.2e-7, "exp(\(xs[i]))")
                }
            }
            checked += xs.count
            xs.removeAll(keepingCapacity: true)
        }
        for sign: UInt32 in [0, 0x8000_0000] {
            let limit: Float = sign == 0 ? 89.5 : 104.5
            var bits: UInt32 = 0
            while Float(bitPattern: bits) <= limit {
                xs.append(Float(bitPattern: bits | sign))
                if xs.count == 4096 { flush() }
                bits &+= 61
            }
        }
        flush()
        #expect(checked > 20_000_000)
        #expect(worstRel <= 1.2e-7, "level \(t.level): worst relative error \(worstRel)")
        #expect(worstSub <= 1, "level \(t.level): worst subnormal error \(worstSub) ulp")
        let special: [Float] = [.infinity, -.infinity, .nan, 0, -0.0, 88.73, -104, -200]
        var out = [Float](repeating: 1, count: special.count)
        t.exp!(special, &out, special.count)
        #expect(out[0] == .infinity && out[1] == 0 && out[2].isNaN && out[3] == 1 && out[4] == 1)
        #expect(out[5] == .infinity && out[6] == 0 && out[7] == 0)
    }

    // MARK: - element-wise and reductions

    static func checkElementwise(_ t: fg_kernel_table, n: Int) {
        let x = random(n, seed: 100 + UInt64(n), scale: 4), dy = random(n, seed: 200 + UInt64(n))
        // Values 12 apart past the end of the range must never be touched.
        var y = [Float](repeating: 12, count: n + 3)
        t.silu!(x, &y, n)
        #expect(worst(Array(y[0..<n]), x.map { Double($0) * sigmoid(Double($0)) }, rtol: 3e-7, atol: 1e-30) <= 1,
                "silu n=\(n)")
        #expect(y[n...].allSatisfy { $0 == 12 }, "silu n=\(n) wrote past the end")

        var dx = [Float](repeating: 12, count: n + 3)
        t.silu_backward!(x, dy, &dx, n)
        for i in 0..<n {
            let v = Double(x[i]), s = sigmoid(v), ref = Double(dy[i]) * s * (1 + v * (1 - s))
            // The bracket cancels near x ≈ −1.28, so the bound scales with its terms, not the result.
            #expect(abs(Double(dx[i]) - ref) <= 1e-6 * abs(Double(dy[i])) * (1 + abs(v)), "siluBackward n=\(n) i=\(i)")
        }
        #expect(dx[n...].allSatisfy { $0 == 12 })

        var z = [Float](repeating: 12, count: n + 3)
        t.add_scalar!(x, &z, n, 0.375)
        #expect(Array(z[0..<n]) == x.map { $0 + 0.375 } && z[n...].allSatisfy { $0 == 12 }, "add_scalar n=\(n)")

        let sum = t.sum!(x, n)
        var ref = 0.0, mag = 0.0
        for v in x { ref += Double(v); mag += abs(Double(v)) }
        #expect(abs(sum - ref) <= 1e-13 * mag, "sum n=\(n)")
    }

    static func checkSoftmax(_ t: fg_kernel_table, width: Int) {
        let rows = 3
        let logits = random(rows * width, seed: 300 + UInt64(width), scale: 5)
        var p = logits + [12, 12]
        t.softmax_rows!(&p, rows, width)
        var expected = [Double]()
        for r in 0..<rows {
            let row = logits[(r * width)..<((r + 1) * width)].map { Double($0) }
            let mx = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - mx) }
            let s = e.reduce(0, +)
            expected += e.map { $0 / s }
        }
        #expect(worst(Array(p[0..<(rows * width)]), expected, rtol: 1e-6, atol: 1e-12) <= 1, "softmax width=\(width)")
        #expect(p[(rows * width)...].allSatisfy { $0 == 12 })

        let a = Array(p[0..<(rows * width)]), da = random(rows * width, seed: 400 + UInt64(width))
        var s = da
        t.softmax_backward_rows!(a, &s, rows, width)
        var ref = [Double]()
        for r in 0..<rows {
            let lo = r * width, hi = lo + width
            var dot = 0.0
            for j in lo..<hi { dot += Double(a[j]) * Double(da[j]) }
            for j in lo..<hi { ref.append(Double(a[j]) * (Double(da[j]) - dot)) }
        }
        #expect(worst(s, ref, rtol: 1e-5, atol: 1e-6) <= 1, "softmax backward width=\(width)")
    }

    // MARK: - GroupNorm (+SiLU)

    /// One group of `channels` × `spatial` values, forward and backward, plain and fused, in Double.
    static func checkGroupNorm(_ t: fg_kernel_table, channels: Int, spatial: Int) {
        let m = channels * spatial
        let x = random(m, seed: 500 + UInt64(m), scale: 2, offset: 0.7), dy = random(m, seed: 600 + UInt64(m))
        let gamma: [Float] = [1.5, -0.5, 0.75], beta: [Float] = [0.25, -1, 0.5]
        for fuse in [false, true] {
            var y = [Float](repeating: 12, count: m + 2), mean: Float = 0, rstd: Float = 0
            t.groupnorm_forward!(x, &y, channels, spatial, gamma, beta, 1e-5, fuse ? 1 : 0, &mean, &rstd)
            #expect(y[m...].allSatisfy { $0 == 12 })
            var dx = [Float](repeating: 12, count: m + 2)
            var sumD = [Double](repeating: 0, count: channels), sumDXhat = sumD
            t.groupnorm_backward!(x, dy, &dx, channels, spatial, gamma, beta, mean, rstd, fuse ? 1 : 0, &sumD, &sumDXhat)
            #expect(dx[m...].allSatisfy { $0 == 12 })
            if m == 0 { continue }

            let xd = x.map { Double($0) }
            let mu = xd.reduce(0, +) / Double(m)
            let r = 1 / (xd.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(m) + 1e-5).squareRoot()
            #expect(abs(Double(mean) - mu) <= 1e-6 * (1 + abs(mu)) && abs(Double(rstd) - r) <= 1e-6 * r)
            var yRef = [Double](), da = [Double](), xhat = [Double]()
            for i in 0..<m {
                let c = i / spatial, xh = (xd[i] - mu) * r, a = xh * Double(gamma[c]) + Double(beta[c])
                xhat.append(xh)
                yRef.append(fuse ? a * sigmoid(a) : a)
                let s = sigmoid(a)
                da.append(fuse ? Double(dy[i]) * s * (1 + a * (1 - s)) : Double(dy[i]))
            }
            #expect(worst(Array(y[0..<m]), yRef, rtol: 1e-5, atol: 1e-6) <= 1, "GroupNorm forward fuse=\(fuse) m=\(m)")
            var m1 = 0.0, m2 = 0.0
            for c in 0..<channels {
                var s1 = 0.0, s2 = 0.0
                for i in (c * spatial)..<((c + 1) * spatial) { s1 += da[i]; s2 += da[i] * xhat[i] }
                #expect(abs(sumD[c] - s1) <= 1e-4 * (1 + abs(s1)) && abs(sumDXhat[c] - s2) <= 1e-4 * (1 + abs(s2)),
                        "GroupNorm sums fuse=\(fuse) m=\(m) c=\(c)")
                m1 += Double(gamma[c]) * s1 / Double(m); m2 += Double(gamma[c]) * s2 / Double(m)
            }
            let dxRef = (0..<m).map { i in r * (Double(gamma[i / spatial]) * da[i] - m1 - xhat[i] * m2) }
            #expect(worst(Array(dx[0..<m]), dxRef, rtol: 1e-4, atol: 1e-5) <= 1, "GroupNorm backward fuse=\(fuse) m=\(m)")
        }
    }

    // MARK: - Adam

    /// Three Adam steps (plain, with L2, with AdamW's shrink) against the Swift loop the kernel replaced:
    /// the same Float32 operations, so the same bits.
    static func checkAdam(_ t: fg_kernel_table, n: Int) {
        let g = random(n, seed: 700 + UInt64(n))
        var x = random(n, seed: 800 + UInt64(n)), m = [Float](repeating: 0, count: n), v = m
        var xr = x, mr = m, vr = v
        let w1: Float = 0.1, b2: Float = 0.999, w2: Float = 0.001, ibc: Float = 0.05, eps: Float = 1e-8, step: Float = 0.01
        for (l2, shrink) in [(Float(0), Float(1)), (0.1, 1), (0, 0.999)] {
            t.adam!(&x, &m, &v, g, n, w1, b2, w2, ibc, eps, step, l2, shrink)
            for i in 0..<n {
                var gi = g[i]
                if l2 != 0 { gi = gi + l2 * xr[i] }
                if shrink != 1 { xr[i] = xr[i] * shrink }
                mr[i] = mr[i] + w1 * (gi - mr[i])
                vr[i] = vr[i] * b2 + w2 * gi * gi
                let denom = vr[i].squareRoot() / ibc + eps
                xr[i] = xr[i] + (-step) * (mr[i] / denom)
            }
            #expect(x == xr && m == mr && v == vr, "adam n=\(n) l2=\(l2) shrink=\(shrink)")
        }
    }

    // MARK: - levels agree bit for bit

    static func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }

    /// Every kernel at `level` against the portable level on the same inputs, compared bit for bit.
    static func checkIdentical(_ level: Int32) {
        let s = table(scalar), v = table(level)
        for n in sizes + [4099] {
            let x = random(n, seed: 900 + UInt64(n), scale: 6), dy = random(n, seed: 901 + UInt64(n))
            var a = [Float](repeating: 0, count: n), b = a
            s.exp!(x, &a, n); v.exp!(x, &b, n)
            #expect(bits(a) == bits(b), "exp n=\(n)")
            s.silu!(x, &a, n); v.silu!(x, &b, n)
            #expect(bits(a) == bits(b), "silu n=\(n)")
            s.silu_backward!(x, dy, &a, n); v.silu_backward!(x, dy, &b, n)
            #expect(bits(a) == bits(b), "siluBackward n=\(n)")
            #expect(s.sum!(x, n).bitPattern == v.sum!(x, n).bitPattern, "sum n=\(n)")
            var p = x, q = x
            s.softmax_rows!(&p, 1, n); v.softmax_rows!(&q, 1, n)
            #expect(bits(p) == bits(q), "softmax n=\(n)")
            var ps = dy, qs = dy
            s.softmax_backward_rows!(p, &ps, 1, n); v.softmax_backward_rows!(q, &qs, 1, n)
            #expect(bits(ps) == bits(qs), "softmax backward n=\(n)")
            let gamma: [Float] = [1.25], beta: [Float] = [-0.5]
            for fuse: Int32 in [0, 1] {
                var mu1: Float = 0, r1: Float = 0, mu2: Float = 0, r2: Float = 0
                s.groupnorm_forward!(x, &a, 1, n, gamma, beta, 1e-5, fuse, &mu1, &r1)
                v.groupnorm_forward!(x, &b, 1, n, gamma, beta, 1e-5, fuse, &mu2, &r2)
                #expect(bits(a) == bits(b) && mu1.bitPattern == mu2.bitPattern && r1.bitPattern == r2.bitPattern,
                        "GroupNorm forward n=\(n) fuse=\(fuse)")
                var d1 = [0.0], d2 = [0.0], e1 = [0.0], e2 = [0.0]
                s.groupnorm_backward!(x, dy, &a, 1, n, gamma, beta, mu1, r1, fuse, &d1, &e1)
                v.groupnorm_backward!(x, dy, &b, 1, n, gamma, beta, mu2, r2, fuse, &d2, &e2)
                #expect(bits(a) == bits(b) && d1 == d2 && e1 == e2, "GroupNorm backward n=\(n) fuse=\(fuse)")
            }
            var x1 = x, x2 = x, m1 = dy, m2 = dy, v1 = dy.map { $0 * $0 }, v2 = v1
            s.adam!(&x1, &m1, &v1, dy, n, 0.1, 0.999, 0.001, 0.05, 1e-8, 0.01, 0.1, 0.99)
            v.adam!(&x2, &m2, &v2, dy, n, 0.1, 0.999, 0.001, 0.05, 1e-8, 0.01, 0.1, 0.99)
            #expect(bits(x1) == bits(x2) && bits(m1) == bits(m2) && bits(v1) == bits(v2), "adam n=\(n)")
        }
    }

    @Test(.enabled(if: fg_kernels_best_level() >= KernelTests.avx2, "this CPU (or its OS) lacks AVX2 + FMA"))
    func avx2MatchesScalarBitForBit() { KernelTests.checkIdentical(KernelTests.avx2) }

    @Test(.enabled(if: fg_kernels_best_level() >= KernelTests.avx512,
                   "this CPU (or its OS) lacks AVX-512F, so the AVX-512 level cannot run here"))
    func avx512MatchesScalarBitForBit() { KernelTests.checkIdentical(KernelTests.avx512) }

    // MARK: - dispatch

    @Test func selectingALevel() {
        let best = fg_kernels_best_level()
        #expect(fg_kernels_level() == best)
        #expect(fg_kernels_table(best + 1) == nil && fg_kernels_table(-1) == nil)
        #expect(fg_kernels_select(best + 1) == -1 && fg_kernels_level() == best)
        // Other tests may run meanwhile: every level gives the same bits, so this only changes their speed.
        #expect(fg_kernels_select(KernelTests.scalar) == 0 && fg_kernels_level() == KernelTests.scalar)
        #expect(fg_kernels_select(best) == 0 && fg_kernels_level() == best)
    }
}
