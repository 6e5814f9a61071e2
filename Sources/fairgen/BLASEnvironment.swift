import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's worker threads spin (calling `sched_yield`) for a long while after each GEMM before they
/// sleep. Our own element-wise kernels run on the same two cores right after, so the spinning threads
/// steal half the machine: W1 took 4.8 s a step with the default and 3.3 s with the shortest spin
/// (docs/performance.md). OpenBLAS reads `OPENBLAS_THREAD_TIMEOUT` once, when the library is loaded —
/// before `main` — so when it is not set we set it and re-execute ourselves (same PID, same arguments).
enum BLASEnvironment {
    static let variable = "OPENBLAS_THREAD_TIMEOUT"

    static func ensureShortSpin() {
        guard getenv(variable) == nil else { return }
        setenv(variable, "4", 1)      // 2^4 cycles, the minimum
        let args = CommandLine.arguments
        var cArgs = args.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &cArgs)
        // exec failed (no /proc?): carry on with OpenBLAS's default, only slower.
        cArgs.forEach { free($0) }
    }
}
