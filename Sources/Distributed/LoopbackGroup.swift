import Foundation

/// N in-process "ranks" (one thread each) that exchange buffers through shared memory: the same
/// collectives as MPI, for tests that compare an N-rank run with one process without a launcher.
public final class LoopbackGroup: @unchecked Sendable {
    public let size: Int
    private let lock = NSCondition()
    private var slots: [[Float]?]
    private var arrived = 0
    private var generation = 0
    private var result: [[Float]] = []

    public init(size: Int) {
        precondition(size >= 1, "LoopbackGroup: size \(size)")
        self.size = size
        self.slots = Array(repeating: nil, count: size)
    }

    /// Rank `rank`'s communicator.
    public func communicator(rank: Int) -> any Communicator {
        precondition((0..<size).contains(rank), "LoopbackGroup: rank \(rank) of \(size)")
        return Member(group: self, rank: rank)
    }

    /// Runs `body(rank, communicator)` on `size` threads, one per rank, and returns each rank's result in
    /// rank order once all have finished.
    public func run<T>(_ body: @escaping (Int, any Communicator) throws -> T) -> [Result<T, Error>] {
        let shared = LoopbackRun(body, count: size)
        let done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            let comm = communicator(rank: r)
            let thread = Thread {
                let result = Result { try shared.body(r, comm) }
                shared.lock.lock(); shared.results[r] = result; shared.lock.unlock()
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return shared.results.map { $0! }
    }

    /// Every rank's contribution in rank order, once all have arrived (a reusable rendezvous).
    fileprivate func exchange(rank: Int, _ buffer: [Float]) -> [[Float]] {
        lock.lock(); defer { lock.unlock() }
        let myGeneration = generation
        slots[rank] = buffer
        arrived += 1
        if arrived == size {
            result = slots.map { $0! }
            slots = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            lock.broadcast()
        } else {
            while generation == myGeneration { lock.wait() }
        }
        return result
    }

    private final class Member: Communicator, @unchecked Sendable {
        let group: LoopbackGroup
        let rank: Int
        var size: Int { group.size }
        init(group: LoopbackGroup, rank: Int) { self.group = group; self.rank = rank }

        func allgather(_ buffer: [Float]) -> [Float] {
            let all = group.exchange(rank: rank, buffer)
            precondition(all.allSatisfy { $0.count == buffer.count }, "allgather: ranks passed different lengths")
            return all.flatMap { $0 }
        }
        func alltoall(_ buffer: [Float]) -> [Float] {
            precondition(buffer.count % size == 0, "alltoall: \(buffer.count) floats are not \(size) equal blocks")
            let all = group.exchange(rank: rank, buffer)
            let block = buffer.count / size
            return all.flatMap { $0[(rank * block)..<((rank + 1) * block)] }
        }
        func barrier() { _ = group.exchange(rank: rank, []) }
        func broadcast(_ buffer: inout [Float], root: Int) {
            buffer = group.exchange(rank: rank, buffer)[root]
        }
        func abort(_ message: String) -> Never { fatalError("loopback rank \(rank): \(message)") }
    }
}

/// What `LoopbackGroup.run` hands its threads: the closure and the result slots (each written by one rank).
private final class LoopbackRun<T>: @unchecked Sendable {
    let body: (Int, any Communicator) throws -> T
    var results: [Result<T, Error>?]
    let lock = NSLock()
    init(_ body: @escaping (Int, any Communicator) throws -> T, count: Int) {
        self.body = body; results = Array(repeating: nil, count: count)
    }
}
