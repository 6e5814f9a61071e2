#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The processes of one data-parallel training run and the few collectives fairgen needs (docs/mpi.md).
///
/// Every collective only moves bytes: `allgather` and `alltoall` return the ranks' buffers in rank order,
/// byte for byte, and the caller combines them in a fixed order itself. There is deliberately no all-reduce:
/// MPI leaves the order of its sums to the implementation (and the network topology), so the bytes would
/// change with the number of ranks.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index in `0..<size`.
    var rank: Int { get }
    /// Number of processes.
    var size: Int { get }
    /// Every rank's `buffer`, concatenated in rank order. All ranks must pass buffers of the same length.
    func allgather(_ buffer: [Float]) -> [Float]
    /// Personalised exchange: `buffer` is `size` equal blocks, block j going to rank j; returns `size` blocks,
    /// block j being what rank j sent to this rank. All ranks pass buffers of the same length.
    func alltoall(_ buffer: [Float]) -> [Float]
    /// Returns once every rank has called it.
    func barrier()
    /// Rank `root`'s `buffer` on every rank (the others' contents are replaced; lengths must agree).
    func broadcast(_ buffer: inout [Float], root: Int)
    /// Ends every rank of the job with `message` on stderr: for a failure on one rank that the others,
    /// waiting in a collective, would otherwise never learn of.
    func abort(_ message: String) -> Never
}

extension Communicator {
    /// True on the one process that writes checkpoints, store objects, keys and run.json.
    public var isWriter: Bool { rank == 0 }

    /// Rank `root`'s text on every rank (UTF-8 bytes carried as floats, which hold bytes exactly).
    public func broadcast(text: String, root: Int = 0) -> String {
        var length: [Float] = [rank == root ? Float(text.utf8.count) : 0]
        precondition(text.utf8.count < 1 << 24 || rank != root, "broadcast(text:): \(text.utf8.count) bytes")
        broadcast(&length, root: root)
        var bytes = rank == root ? text.utf8.map { Float($0) } : [Float](repeating: 0, count: Int(length[0]))
        broadcast(&bytes, root: root)
        return String(decoding: bytes.map { UInt8($0) }, as: UTF8.self)
    }
}

/// The communicator of a process started on its own (no launcher): rank 0 of 1; collectives are copies.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allgather(_ buffer: [Float]) -> [Float] { buffer }
    public func alltoall(_ buffer: [Float]) -> [Float] { buffer }
    public func barrier() {}
    public func broadcast(_ buffer: inout [Float], root: Int) {
        precondition(root == 0, "broadcast: root \(root) of a single process")
    }
    public func abort(_ message: String) -> Never { fatalError(message) }
}

/// The process-wide communicator.
public enum World {
    /// Number of processes the launcher says it started, from `OMPI_COMM_WORLD_SIZE` (mpirun) or `PMI_SIZE`
    /// (srun); 1 when neither is set or parses.
    public static func launcherSize(_ env: [String: String]) -> Int {
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let text = env[key], let n = Int(text), n >= 1 { return n }
        }
        return 1
    }

    /// `MPICommunicator` when the launcher started more than one process, else `SingleProcess`. MPI_Init
    /// runs only in the first case, on first use, so `fairgen demo` and the tests never touch MPI.
    public static let shared: any Communicator = {
        var env: [String: String] = [:]
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return launcherSize(env) > 1 ? MPICommunicator.initialize() : SingleProcess()
    }()
}
