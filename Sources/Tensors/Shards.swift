#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Batch sharding for the GEMM layers (Conv2d, Linear, attention): the batch of N samples is cut into a
/// fixed number S of contiguous shards, shard s = samples [s·N/S, (s+1)·N/S). The shards run concurrently
/// on `Parallel.threads` workers, each with single-threaded OpenBLAS calls, and write disjoint slices of
/// the output; per-shard partial sums (weight and bias gradients) are added in shard order afterwards.
///
/// S depends on the batch size only — never on the thread count — so `--threads 1` runs the very same S
/// shards one after another and produces the same bytes as `--threads 2` (docs/performance.md).
public enum Shards {
    /// Shards per batch (fewer when the batch has fewer samples). A constant: raising it would let more
    /// cores work at the price of smaller GEMMs, and would change results in the last bits.
    public static let maxCount = 2

    /// Work (roughly FLOPs) below which the shards run one after another on the calling thread: waking a
    /// worker costs more than it saves. Only speed depends on this, never results.
    public static let minConcurrentWork = 1 << 21

    /// Number of shards for a batch of `n` samples.
    @inlinable public static func count(batch n: Int) -> Int { Swift.max(1, Swift.min(n, maxCount)) }

    /// Samples of shard `s` out of `count` for a batch of `n`.
    @inlinable public static func range(_ s: Int, of count: Int, batch n: Int) -> Range<Int> {
        (s * n / count)..<((s + 1) * n / count)
    }

    /// Times the calling thread ran the shards of some layer concurrently (for tests: proves the parallel
    /// path was taken).
    static var concurrentRuns: Int { runs.value }
    private static let runs = ThreadLocal.Slot()

    /// Runs `body(shard, samples)` for every shard of a batch of `n`, concurrently when `work` (≈ FLOPs of
    /// the whole batch) is large enough and more than one thread is allowed. OpenBLAS is held at one thread
    /// while the shards run (`BLAS.singleThreaded`).
    public static func run(batch n: Int, work: Int, _ body: (_ shard: Int, _ samples: Range<Int>) -> Void) {
        let count = Shards.count(batch: n)
        BLAS.singleThreaded {
            if count > 1 && work >= minConcurrentWork && Parallel.threads > 1 && !Parallel.isNested {
                runs.value += 1
                Parallel.concurrent(count) { s in body(s, range(s, of: count, batch: n)) }
            } else {
                for s in 0..<count { body(s, range(s, of: count, batch: n)) }
            }
        }
    }
}

/// Scratch memory shared by every layer that runs on one thread: one set of buffers per shard, each grown
/// to the largest size any layer asked for and then reused (im2col columns, GEMM staging, partial weight
/// gradients, attention scores, Winograd transforms). Layers run one at a time on a thread, so they can
/// share it; a layer's shards use disjoint slots. Each calling thread gets its own workspace, kept until
/// the thread ends.
public final class Workspace {
    /// What a buffer is used for; buffers of different roles of one shard may be used at the same time.
    public enum Role: Int, CaseIterable, Sendable {
        /// im2col column matrix (also reused for the column gradient in backward).
        case columns
        /// GEMM output or input staged in `[C, b·H·W]` layout for a chunk of images.
        case staging
        /// One shard's partial weight gradient.
        case weightGrad
        /// Attention scores / probabilities of one (sample, head).
        case scores
        /// Attention score gradients of one (sample, head).
        case scoresGrad
        /// A conv layer's Winograd-transformed weights `[16, Cout, Cin]`; the slot of shard 0, computed
        /// before the shards start and read by all of them.
        case transformedWeights
        /// One shard's partial gradient of the Winograd-transformed weights `[16, Cout, Cin]`.
        case transformedWeightGrad
    }

    // Fixed-size slot tables (raw memory, not arrays): shards fill their own slots from different threads.
    private let slots = Shards.maxCount * Role.allCases.count
    private let buffers: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
    private let capacities: UnsafeMutablePointer<Int>

    private init() {
        buffers = .allocate(capacity: slots)
        buffers.initialize(repeating: nil, count: slots)
        capacities = .allocate(capacity: slots)
        capacities.initialize(repeating: 0, count: slots)
    }

    deinit {
        for i in 0..<slots { buffers[i]?.deallocate() }
        buffers.deallocate()
        capacities.deallocate()
    }

    /// The workspace of the calling thread.
    public static var current: Workspace {
        if let p = pthread_getspecific(key) { return Unmanaged<Workspace>.fromOpaque(p).takeUnretainedValue() }
        let w = Workspace()
        _ = pthread_setspecific(key, Unmanaged.passRetained(w).toOpaque())
        return w
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        // The thread's workspace is released when the thread exits.
        let rc = pthread_key_create(&k) { p in
            guard let p else { return }
            Unmanaged<Workspace>.fromOpaque(p).release()
        }
        precondition(rc == 0, "pthread_key_create failed (\(rc))")
        return k
    }()

    /// At least `count` floats for (`shard`, `role`); contents are unspecified (callers overwrite them).
    /// Valid until the next request for the same slot with a larger count. Call from the thread that owns
    /// the workspace *before* starting shards, or from a shard for its own slots only. Layers fetch
    /// `Workspace.current` on the calling thread and hand it to their shards (a worker thread's own
    /// workspace would be a different one).
    public func buffer(_ role: Role, shard: Int, count: Int) -> UnsafeMutablePointer<Float> {
        precondition(shard >= 0 && shard < Shards.maxCount, "Workspace: shard \(shard)")
        let i = shard * Role.allCases.count + role.rawValue
        if capacities[i] < count {
            buffers[i]?.deallocate()
            buffers[i] = .allocate(capacity: Swift.max(count, 1))
            capacities[i] = Swift.max(count, 1)
        }
        return buffers[i]!
    }

    /// Floats currently allocated for (`shard`, `role`) (0 if never requested).
    public func capacity(_ role: Role, shard: Int) -> Int { capacities[shard * Role.allCases.count + role.rawValue] }

    /// Bytes currently held by this workspace.
    public var bytes: Int { (0..<slots).reduce(0) { $0 + capacities[$1] } * MemoryLayout<Float>.size }
}

/// A value behind a pthread mutex.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
