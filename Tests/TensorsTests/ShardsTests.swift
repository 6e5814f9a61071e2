import Dispatch
import Testing
@testable import Tensors

@Suite struct ShardsTests {
    /// Shards tile the batch in order, and their number depends on the batch size only.
    @Test func shardsTileTheBatchWhateverTheThreadCount() {
        for n in [1, 2, 3, 7, 64] {
            for threads in [1, 2, 4] {
                Parallel.withThreads(threads) {
                    let count = Shards.count(batch: n)
                    #expect(count == min(n, Shards.maxCount))
                    let lock = Locked<[(Int, Range<Int>)]>([])
                    Shards.run(batch: n, work: .max) { s, r in lock.withLock { $0.append((s, r)) } }
                    let runs = lock.withLock { $0 }.sorted { $0.0 < $1.0 }
                    #expect(runs.map(\.0) == Array(0..<count))
                    let seen = runs.map(\.1)
                    #expect(seen == (0..<count).map { Shards.range($0, of: count, batch: n) })
                    #expect(seen.first?.lowerBound == 0 && seen.last?.upperBound == n)
                    #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && !$0.isEmpty })
                }
            }
        }
    }

    /// Shards run concurrently with 2 threads (and kernels inside them run serially), one after another with 1.
    @Test func shardsRunConcurrentlyOnlyWithSeveralThreads() {
        let before = Shards.concurrentRuns
        let nested = Locked<[Bool]>([])
        Parallel.withThreads(2) {
            Shards.run(batch: 8, work: .max) { _, _ in nested.withLock { $0.append(Parallel.isNested) } }
        }
        #expect(Shards.concurrentRuns == before + 1)
        #expect(nested.withLock { $0 } == [true, true])
        Parallel.withThreads(1) {
            Shards.run(batch: 8, work: .max) { _, _ in }
            Shards.run(batch: 8, work: 10) { _, _ in }
        }
        Parallel.withThreads(2) { Shards.run(batch: 8, work: 10) { _, _ in } }   // too little work
        #expect(Shards.concurrentRuns == before + 1)
    }

    /// OpenBLAS runs on one thread inside the shards and gets its count back afterwards, also when
    /// regions on different threads overlap.
    @Test func blasIsSingleThreadedInsideShardsAndRestoredAfter() {
        let outside = BLAS.threads
        let inside = Locked<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            Parallel.withThreads(2) {
                Shards.run(batch: 4, work: .max) { _, _ in
                    let n = BLAS.activeThreads
                    inside.withLock { $0.append(n) }
                }
            }
        }
        #expect(inside.withLock { $0 }.allSatisfy { $0 == 1 })
        #expect(BLAS.threads == outside)
    }

    /// Single-threaded sgemm called from two shards at once gives exactly the serial results.
    @Test func concurrentSingleThreadedGemmEqualsSerial() {
        let m = 96, n = 200, k = 150, jobs = 8
        var rng = RNG(seed: 4)
        let a = (0..<(jobs * m * k)).map { _ in rng.normal() }
        let b = (0..<(k * n)).map { _ in rng.normal() }
        func products(threads: Int) -> [Float] {
            var c = [Float](repeating: 0, count: jobs * m * n)
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                let ap = pa.baseAddress!, bp = pb.baseAddress!, cp = pc.baseAddress!
                for _ in 0..<20 {   // many overlapping calls
                    Parallel.withThreads(threads) {
                        Shards.run(batch: jobs, work: .max) { _, r in
                            for j in r {
                                BLAS.gemm(m: m, n: n, k: k, a: ap + j * m * k, b: bp, c: cp + j * m * n)
                            }
                        }
                    }
                }
            } } }
            return c
        }
        let serial = products(threads: 1), parallel = products(threads: 2)
        #expect(serial == parallel)
        #expect(serial.contains { $0 != 0 })
    }

    /// Each thread has its own workspace; a slot grows and is then reused.
    @Test func workspaceIsPerThreadAndGrows() {
        let mine = Workspace.current
        #expect(Workspace.current === mine)
        let p = mine.buffer(.scores, shard: 1, count: 10)
        #expect(mine.buffer(.scores, shard: 1, count: 5) == p)
        #expect(mine.capacity(.scores, shard: 1) >= 10)
        _ = mine.buffer(.scores, shard: 1, count: 1000)
        #expect(mine.capacity(.scores, shard: 1) >= 1000)
        let other = Locked<Workspace?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detach {
            other.withLock { $0 = Workspace.current }
            done.signal()
        }
        done.wait()
        #expect(other.withLock { $0 } !== mine)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A plain pthread (not a pool thread), so its thread-local state starts empty.
enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var tid = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&tid, nil, { p in
            let box = Unmanaged<Box>.fromOpaque(p!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(rc == 0)
        pthread_detach(tid)
    }
}
