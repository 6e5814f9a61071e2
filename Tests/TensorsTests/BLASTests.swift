import Testing
@testable import Tensors

@Suite struct BLASTests {
    /// gemm against a naive triple loop, in every transpose combination.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesNaive(_ trans: (Bool, Bool)) {
        let (ta, tb) = trans
        let m = 5, n = 7, k = 3
        var rng = RNG(seed: 9)
        let a = (0..<(m * k)).map { _ in rng.normal() }
        let b = (0..<(k * n)).map { _ in rng.normal() }
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            BLAS.gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
        } } }
        for i in 0..<m { for j in 0..<n {
            var s: Float = 0
            for p in 0..<k {
                let av = ta ? a[p * m + i] : a[i * k + p]
                let bv = tb ? b[j * k + p] : b[p * n + j]
                s += av * bv
            }
            #expect(abs(s - c[i * n + j]) < 1e-5)
        } }
    }
}
