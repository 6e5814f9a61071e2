import Dispatch

/// Work splitting for element-wise kernels. Results must never depend on how many threads ran:
/// every item writes only its own slice, and any reduction is combined in item order afterwards.
public enum Parallel {
    /// Threads used for element-wise work (OpenBLAS has its own setting, see `BLAS.setThreads`).
    /// Set once at start-up, before any kernel runs.
    nonisolated(unsafe) public static var threads: Int = 2

    /// Runs `body(i)` for i in 0..<count, over `threads` workers when that pays
    /// (`count >= 2` and `work` — a rough element count — above `minWork`).
    @inlinable public static func forEach(_ count: Int, work: Int = .max, minWork: Int = 32_768,
                                          _ body: (Int) -> Void) {
        if threads <= 1 || count < 2 || work < minWork {
            for i in 0..<count { body(i) }
            return
        }
        // Items touch disjoint memory by contract, so handing the closure to other threads is safe.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: count) { i in work(i) }
        }
    }

    /// Splits 0..<n into `threads` contiguous chunks and runs `body(range)` for each.
    @inlinable public static func chunks(_ n: Int, minWork: Int = 32_768, _ body: (Range<Int>) -> Void) {
        let parts = (threads <= 1 || n < minWork) ? 1 : threads
        if parts == 1 { body(0..<n); return }
        let size = (n + parts - 1) / parts
        forEach(parts, work: .max, minWork: 0) { p in
            let lo = p * size, hi = Swift.min(n, lo + size)
            if lo < hi { body(lo..<hi) }
        }
    }
}
