import Foundation
import Testing
@testable import Tensors

/// ThreadScope: the lock that keeps tests changing the global thread counts from interleaving.
@Suite struct ThreadScopeTests {
    /// Two threads each setting a different count: inside a scope the count is always the scope's own.
    /// Without the lock the other thread's assignment shows through within a few iterations.
    @Test func scopesDoNotInterleave() {
        let group = DispatchGroup()
        let mismatches = ManagedCounter()
        for threads in [1, 2] {
            DispatchQueue.global().async(group: group) {
                for _ in 0..<200 {
                    ThreadScope.with(threads: threads) {
                        usleep(50)
                        if Parallel.threads != threads || BLAS.threads != threads { mismatches.increment() }
                    }
                }
            }
        }
        group.wait()
        #expect(mismatches.value == 0)
    }

    @Test func restoresAndNests() {
        // Inside an outer scope, so that no other test's scope runs between the reads.
        ThreadScope.with(threads: 2) {
            ThreadScope.with(threads: 1) {
                #expect(Parallel.threads == 1 && BLAS.threads == 1)
                ThreadScope.with(threads: 2) { #expect(Parallel.threads == 2 && BLAS.threads == 2) }
                #expect(Parallel.threads == 1 && BLAS.threads == 1)
            }
            #expect(Parallel.threads == 2 && BLAS.threads == 2)
        }
    }
}

final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
