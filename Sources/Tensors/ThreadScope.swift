import Foundation

/// Changing the thread count of a running process, one caller at a time. `Parallel.threads` and
/// OpenBLAS's thread count are process-wide; two callers that each set them and restore them (tests
/// comparing 1 and 2 threads run concurrently under Swift Testing) would otherwise interleave, and one
/// of them would silently compare 2 threads with 2 threads.
public enum ThreadScope {
    // Recursive: a scope may open another (the inner one wins until it returns).
    private static let lock = NSRecursiveLock()

    /// Runs `body` with `threads` element-wise and OpenBLAS threads, holding a process-wide lock, and
    /// restores both counts afterwards.
    public static func with<T>(threads: Int, _ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        let savedParallel = Parallel.threads, savedBLAS = BLAS.threads
        Parallel.threads = threads
        BLAS.setThreads(threads)
        defer {
            Parallel.threads = savedParallel
            BLAS.setThreads(savedBLAS)
        }
        return try body()
    }
}
