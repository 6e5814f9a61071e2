import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// Environment OpenBLAS must see when it is loaded — before `main` — so we set it and re-execute
/// ourselves (same PID, same arguments) when it is missing or wrong:
///
///  - `OPENBLAS_THREAD_TIMEOUT`: OpenBLAS's worker threads spin (calling `sched_yield`) for a long while
///    after each GEMM before they sleep. Our own element-wise kernels run on the same two cores right
///    after, so the spinning threads steal half the machine: W1 took 4.8 s a step with the default and
///    3.3 s with the shortest spin (docs/performance.md).
///  - `OPENBLAS_CORETYPE`: OpenBLAS falls back to SSE3 kernels on CPUs it does not know; `BLASStartup`
///    decides from CPUID whether a better core applies, and checks it after the switch.
enum BLASEnvironment {
    static let spinVariable = "OPENBLAS_THREAD_TIMEOUT"

    static func prepare() {
        var changes: [String: String?] = [:]
        var reexec = false
        if getenv(spinVariable) == nil {
            changes[spinVariable] = "4"      // 2^4 cycles, the minimum
            reexec = true
        }
        let decision = BLASStartup.decide(environment: BLASStartup.environment(), active: BLASCore.active,
                                          cpu: CPUFeatures.current, check: SGEMMCheck.openBLASFailure)
        // A decision that changes nothing (e.g. a refused override) is made again, identically, by the
        // re-executed process: print its messages there only, not twice.
        if decision.reexec || !decision.environment.isEmpty || !reexec {
            for line in decision.messages { Console.error(line) }
        }
        changes.merge(decision.environment) { _, new in new }
        reexec = reexec || decision.reexec
        for (name, value) in changes {
            if let value { setenv(name, value, 1) } else { unsetenv(name) }
        }
        guard reexec else { return }
        let args = CommandLine.arguments
        var cArgs = args.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &cArgs)
        // exec failed (no /proc?): carry on with OpenBLAS's defaults, only slower.
        cArgs.forEach { free($0) }
    }
}
