import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work splitting for element-wise kernels. Results must never depend on how many threads ran:
/// every item writes only its own slice, and any reduction is combined in item order afterwards.
///
/// A `forEach` nested inside another one's work item (e.g. an im2col inside a batch shard, see `Shards`)
/// runs serially on its worker: the outer level already occupies every thread.
public enum Parallel {
    nonisolated(unsafe) private static var globalThreads: Int = 2

    /// Threads used for fairgen's own parallel work (element-wise kernels and batch shards). Set once at
    /// start-up, before any kernel runs; `withThreads` overrides it for one calling thread. OpenBLAS has its
    /// own setting (`BLAS.setThreads`), which the sharded layers do not use (they run sgemm on one thread).
    public static var threads: Int {
        get {
            let local = ThreadLocal.threadsOverride.value
            return local > 0 ? local : globalThreads
        }
        set { globalThreads = newValue }
    }

    /// Runs `body` with `threads` = `n` on the calling thread only (other threads keep the global value),
    /// so a test can pin its thread count while other tests run concurrently.
    public static func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        precondition(n > 0, "Parallel.withThreads: \(n) threads")
        let saved = ThreadLocal.threadsOverride.value
        ThreadLocal.threadsOverride.value = n
        defer { ThreadLocal.threadsOverride.value = saved }
        return try body()
    }

    /// True on a thread that is running a work item of a parallel `forEach`.
    public static var isNested: Bool { ThreadLocal.nested.value != 0 }

    /// Runs `body(i)` for i in 0..<count, over `threads` workers when that pays
    /// (`count >= 2` and `work` — a rough element count — above `minWork`). Serial when nested.
    @inlinable public static func forEach(_ count: Int, work: Int = .max, minWork: Int = 32_768,
                                          _ body: (Int) -> Void) {
        if threads <= 1 || count < 2 || work < minWork || isNested {
            for i in 0..<count { body(i) }
            return
        }
        concurrent(count, body)
    }

    /// `concurrentPerform` with every work item marked nested, so kernels it calls stay serial.
    @usableFromInline static func concurrent(_ count: Int, _ body: (Int) -> Void) {
        // Items touch disjoint memory by contract, so handing the closure to other threads is safe.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: count) { i in
                let saved = ThreadLocal.nested.value
                ThreadLocal.nested.value = 1
                work(i)
                ThreadLocal.nested.value = saved
            }
        }
    }

    /// Splits 0..<n into `threads` contiguous chunks and runs `body(range)` for each.
    @inlinable public static func chunks(_ n: Int, minWork: Int = 32_768, _ body: (Range<Int>) -> Void) {
        let parts = (threads <= 1 || n < minWork || isNested) ? 1 : threads
        if parts == 1 { body(0..<n); return }
        let size = (n + parts - 1) / parts
        forEach(parts, work: .max, minWork: 0) { p in
            let lo = p * size, hi = Swift.min(n, lo + size)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Per-thread integers (pthread keys; values stored in the pointer bits, 0 = unset).
@usableFromInline enum ThreadLocal {
    @usableFromInline static let nested = Slot()
    static let threadsOverride = Slot()

    @usableFromInline final class Slot: Sendable {
        let key: pthread_key_t

        init() {
            var k = pthread_key_t()
            let rc = pthread_key_create(&k, nil)
            precondition(rc == 0, "pthread_key_create failed (\(rc))")
            key = k
        }

        @usableFromInline var value: Int {
            get { Int(bitPattern: pthread_getspecific(key)) }
            set { _ = pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
        }
    }
}
