import Distributed
import Testing

/// The communicators' contracts (docs/mpi.md): collectives move bytes in rank order; MPI only under a launcher.
@Suite struct CommunicatorTests {
    @Test func launcherSizeReadsMpirunAndSrun() {
        #expect(World.launcherSize([:]) == 1)
        #expect(World.launcherSize(["OMPI_COMM_WORLD_SIZE": "4"]) == 4)
        #expect(World.launcherSize(["PMI_SIZE": "8"]) == 8)
        #expect(World.launcherSize(["OMPI_COMM_WORLD_SIZE": "junk", "PMI_SIZE": "2"]) == 2)
        #expect(World.launcherSize(["OMPI_COMM_WORLD_SIZE": "0"]) == 1)
        // the test process itself was not started by a launcher: one process, MPI never initialised
        #expect(World.shared.size == 1 && World.shared.rank == 0 && World.shared is SingleProcess)
    }

    /// Three loopback ranks: allgather in rank order, alltoall's personalised blocks, broadcast from a
    /// non-zero root, text broadcast, and a barrier — repeated, so the rendezvous is reusable.
    @Test func loopbackCollectives() throws {
        let results = LoopbackGroup(size: 3).run { r, comm -> [[Float]] in
            var out: [[Float]] = []
            for round in 0..<3 {
                let f = Float(round * 100 + r)
                out.append(comm.allgather([f, f + 0.5]))
                // block j of rank r's buffer goes to rank j: value 10·r + j
                out.append(comm.alltoall(Self.blocks(from: r)))
                var b: [Float] = r == 2 ? [7, 8] : [0, 0]
                comm.broadcast(&b, root: 2)
                out.append(b)
                out.append(comm.broadcast(text: r == 0 ? "outputs\nx=é" : "").unicodeScalars.map { Float($0.value) })
                comm.barrier()
            }
            return out
        }
        for (r, result) in results.enumerated() {
            let out = try result.get()
            for round in 0..<3 {
                let base = Float(round * 100)
                let gathered: [Float] = [base, base + 0.5, base + 1, base + 1.5, base + 2, base + 2.5]
                var received: [Float] = []
                for q in 0..<3 { received += Self.blocks(from: q)[(2 * r)..<(2 * r + 2)] }
                #expect(out[4 * round] == gathered)
                #expect(out[4 * round + 1] == received)
                #expect(out[4 * round + 2] == [7, 8])
                #expect(out[4 * round + 3] == "outputs\nx=é".unicodeScalars.map { Float($0.value) })
            }
        }
    }

    /// Rank `r`'s alltoall buffer: block j (two floats) is meant for rank j and holds ±(10·r + j).
    static func blocks(from r: Int) -> [Float] {
        var out: [Float] = []
        for j in 0..<3 { out += [Float(10 * r + j), Float(-(10 * r + j))] }
        return out
    }

    @Test func singleProcessCollectivesAreCopies() {
        let one = SingleProcess()
        #expect(one.allgather([1, 2]) == [1, 2] && one.alltoall([3, 4]) == [3, 4] && one.isWriter)
        #expect(one.broadcast(text: "abc") == "abc")
    }
}
