import CBLAS

/// Thin, shape-checked wrappers over OpenBLAS. Every matrix product in fairgen goes through here.
public enum BLAS {
    /// Sets the number of OpenBLAS threads (call once at start-up; 2 on the target machine).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// Threads OpenBLAS will use.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major.
    /// `transA`: A is stored k×m and used transposed; otherwise stored m×k. Likewise `transB`
    /// (stored n×k when transposed, k×n otherwise). Leading dimensions default to dense storage.
    @inlinable public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transA ? m : k)
        let ldb = ldb ?? (transB ? k : n)
        let ldc = ldc ?? n
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[m] = alpha · op(A) · x + beta · y, A stored m×n row-major (op = transpose when `trans`).
    @inlinable public static func gemv(
        trans: Bool = false, m: Int, n: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), alpha, a, Int32(lda ?? n), x, 1, beta, y, 1)
    }

    /// y += alpha · x over `n` elements.
    @inlinable public static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(n), alpha, x, 1, y, 1)
    }

    /// Dot product of `n` elements.
    @inlinable public static func dot(n: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(n), x, 1, y, 1)
    }
}
