import ArgumentParser
import Bench
import Foundation

/// `fairgen bench W1|W2|W3|W4|W5|all` — the engine benchmarks of shared/bench/torch_reference.py,
/// one JSON line per workload (same keys, so the two can be compared as ratios).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the engine workloads W1–W5 (one JSON line each).",
        discussion: "`all` runs every workload in a fresh child process, so each line's peak RSS is its own.")

    @Argument(help: "W1 | W2 | W3 | W4 | W5 | all") var workload: String
    @Option(help: "Threads for OpenBLAS and element-wise kernels.") var threads = 2
    @Option(help: "Timed steps (the median is reported).") var steps = 10
    @Option(help: "Untimed warm-up steps.") var warmup = 3

    static let workloads = ["W1", "W2", "W3", "W4", "W5"]

    func validate() throws {
        guard workload == "all" || Self.workloads.contains(workload) else {
            throw ValidationError("workload: expected one of W1, W2, W3, W4, W5, all; got '\(workload)'")
        }
        guard threads > 0, steps > 0, warmup >= 0 else {
            throw ValidationError("--threads and --steps must be positive, --warmup non-negative")
        }
    }

    func run() throws {
        if workload == "all" {
            var failed = false
            for w in Self.workloads where !runChild(w) { failed = true }
            if failed { throw ExitCode(1) }
            return
        }
        guard let result = try runOne(workload) else { throw ExitCode(1) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = String(decoding: try encoder.encode(result), as: UTF8.self)
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Runs one workload in this process; nil (after a message on stderr) when it is not available.
    private func runOne(_ w: String) throws -> BenchResult? {
        if UNetWorkloads.shape(w) != nil {
            return UNetWorkloads.run(w, threads: threads, steps: steps, warmup: warmup)
        }
        return resNetWorkload(w)
    }

    /// Runs `fairgen bench <w>` as a child process of this same binary; its JSON line goes to our stdout.
    private func runChild(_ w: String) -> Bool {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["bench", w, "--threads", "\(threads)", "--steps", "\(steps)", "--warmup", "\(warmup)"]
        do {
            try child.run()
            child.waitUntilExit()
            return child.terminationStatus == 0
        } catch {
            Console.error("fairgen bench: could not start child for \(w): \(error)")
            return false
        }
    }
}
extension BenchCommand {
    /// W4/W5 (ResNet-18) come from the `resnet` branch's `ResNetWorkloads`; until it is merged they
    /// report that they are not built.
    func resNetWorkload(_ w: String) -> BenchResult? {
        Console.error("fairgen bench \(w): not built yet (ResNet workloads W4/W5 come from the resnet branch)")
        return nil
    }
}
