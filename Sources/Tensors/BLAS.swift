import CBLAS

/// Thin, shape-checked wrappers over OpenBLAS. Every matrix product in fairgen goes through here.
public enum BLAS {
    /// Sets the number of OpenBLAS threads (call once at start-up; 2 on the target machine). Inside a
    /// `singleThreaded` region the new count takes effect when the last region ends.
    public static func setThreads(_ n: Int) {
        region.withLock { r in
            r.requested = n
            if r.depth == 0 { openblas_set_num_threads(Int32(n)) }
        }
    }

    /// Threads OpenBLAS will use outside `singleThreaded` regions.
    public static var threads: Int {
        region.withLock { r in r.depth == 0 ? Int(openblas_get_num_threads()) : r.requested }
    }

    /// Threads OpenBLAS uses right now (1 inside a `singleThreaded` region).
    static var activeThreads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS on one thread. The batch shards (`Shards.run`) call sgemm concurrently from
    /// several threads and parallelise themselves; one-thread OpenBLAS runs each call on its caller, which
    /// is the supported way to call it concurrently (a multi-threaded OpenBLAS would serialise the calls on
    /// its thread-server lock). The thread count is global, so regions on different threads are counted
    /// and the count in force before the first one is restored when the last one ends.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        region.withLock { r in
            if r.depth == 0 {
                r.requested = Int(openblas_get_num_threads())
                if r.requested != 1 { openblas_set_num_threads(1) }
            }
            r.depth += 1
        }
        defer {
            region.withLock { r in
                r.depth -= 1
                if r.depth == 0 && r.requested != 1 { openblas_set_num_threads(Int32(r.requested)) }
            }
        }
        return try body()
    }

    private struct Region { var depth = 0; var requested = 1 }
    private static let region = Locked(Region())

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
