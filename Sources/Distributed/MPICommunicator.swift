import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// `MPI_COMM_WORLD` through OpenMPI. MPI's default error handler aborts the job on any failure, so the
/// collectives have no error path of their own.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    private init(rank: Int, size: Int) { self.rank = rank; self.size = size }

    /// Initialises MPI (once per process; `World.shared` calls it) and registers MPI_Finalize at exit,
    /// without which mpirun reports the job as failed. Funneled: only the thread that trains calls MPI.
    static func initialize() -> MPICommunicator {
        var provided: Int32 = 0
        let rc = MPI_Init_thread(nil, nil, fairgen_mpi_thread_funneled(), &provided)
        precondition(rc == fairgen_mpi_success(), "MPI_Init_thread failed (\(rc))")
        atexit { _ = MPI_Finalize() }
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(fairgen_mpi_comm_world(), &r)
        MPI_Comm_size(fairgen_mpi_comm_world(), &n)
        return MPICommunicator(rank: Int(r), size: Int(n))
    }

    public func allgather(_ buffer: [Float]) -> [Float] {
        precondition(buffer.count <= Int(Int32.max), "allgather: \(buffer.count) floats exceed MPI's Int32 count")
        var out = [Float](repeating: 0, count: buffer.count * size)
        buffer.withUnsafeBufferPointer { send in
            out.withUnsafeMutableBufferPointer { recv in
                _ = MPI_Allgather(send.baseAddress, Int32(buffer.count), fairgen_mpi_float(),
                                  recv.baseAddress, Int32(buffer.count), fairgen_mpi_float(), fairgen_mpi_comm_world())
            }
        }
        return out
    }

    public func alltoall(_ buffer: [Float]) -> [Float] {
        precondition(buffer.count % size == 0, "alltoall: \(buffer.count) floats are not \(size) equal blocks")
        let block = buffer.count / size
        precondition(block <= Int(Int32.max), "alltoall: blocks of \(block) floats exceed MPI's Int32 count")
        var out = [Float](repeating: 0, count: buffer.count)
        buffer.withUnsafeBufferPointer { send in
            out.withUnsafeMutableBufferPointer { recv in
                _ = MPI_Alltoall(send.baseAddress, Int32(block), fairgen_mpi_float(),
                                 recv.baseAddress, Int32(block), fairgen_mpi_float(), fairgen_mpi_comm_world())
            }
        }
        return out
    }

    public func abort(_ message: String) -> Never {
        let line = "fairgen rank \(rank): \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        _ = MPI_Abort(fairgen_mpi_comm_world(), 1)
        exit(1)
    }

    public func barrier() { _ = MPI_Barrier(fairgen_mpi_comm_world()) }

    public func broadcast(_ buffer: inout [Float], root: Int) {
        precondition(buffer.count <= Int(Int32.max), "broadcast: \(buffer.count) floats exceed MPI's Int32 count")
        let n = Int32(buffer.count)
        buffer.withUnsafeMutableBufferPointer { p in
            _ = MPI_Bcast(p.baseAddress, n, fairgen_mpi_float(), Int32(root), fairgen_mpi_comm_world())
        }
    }
}
