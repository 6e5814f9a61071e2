import ArgumentParser
import Bench
import Foundation

/// `fairgen bench WORKLOAD` — one JSON line per workload.
///  - W1…W5 / all: the engine benchmarks of shared/bench/torch_reference.py (same keys, so the two can be
///    compared as ratios); `all` is exactly W1…W5, as in the Python script.
///  - ddim50, upsampler: Diffusion-module workloads (DDIM-50 sampling; one cascaded-upsampler train step).
///  - ingest: archive read + PNG decode throughput (see BenchIngest.swift).
///  - blas: OpenBLAS sgemm GFLOP/s at a few sizes with 1 thread and with --threads (the machine's ceiling).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the engine workloads W1–W5, ddim50, upsampler, ingest or blas (one JSON line each).",
        discussion: """
            W1–W5 match shared/bench/torch_reference.py (same keys and networks); `all` runs W1–W5, each in a \
            fresh child process so each line's peak RSS is its own.
            ddim50: one full DDIM-50 sample of 64 images at 32×32 with the W3 network (defaults --steps 1 \
            --warmup 0); step_seconds_* are seconds per 50-step sample. PyTorch equivalent: 50 × W3's \
            step_seconds_median.
            upsampler: one training step of the 64→128 cascaded upsampler, batch 4 (defaults --steps 3 \
            --warmup 1). No PyTorch reference.
            ingest: decodes every PNG of --archive (default: a generated 64×64 RGB .tar.gz of --images \
            images, written to a temporary folder, or kept at --write-archive). Compare with \
            `python3 bench/ingest_python.py ARCHIVE` on the same archive, e.g. \
            `fairgen bench ingest --write-archive /tmp/fairgen-ingest-bench.tar.gz` then \
            `python3 bench/ingest_python.py /tmp/fairgen-ingest-bench.tar.gz`.
            blas: square sgemm (C = A·B) at each of --sizes (default 256,512,1024), with 1 thread and with \
            --threads; one line per size and thread count with `gflops` (defaults --steps 5 --warmup 1).
            Every line carries `blas`: the OpenBLAS kernel, how it was chosen, the CPU and the thread count.
            """)

    @Argument(help: "W1 | W2 | W3 | W4 | W5 | all | ddim50 | upsampler | ingest | blas") var workload: String
    @Option(help: "Threads for OpenBLAS and element-wise kernels (ingest: decode workers).") var threads = 2
    @Option(help: "Timed steps, the median is reported (default 8; ddim50 1; upsampler 3; blas 5; not used by ingest).")
    var steps: Int?
    @Option(help: "Untimed warm-up steps (default 1; ddim50 0; upsampler 1; not used by ingest).")
    var warmup: Int?
    @Option(help: "ingest: the archive to decode (.tar.gz / .tar / .zip of PNGs), e.g. from bench/make_ingest_archive.py.")
    var archive: String?
    @Option(help: "ingest: images in the generated archive (default 10000; not with --archive).")
    var images: Int?
    @Option(help: "ingest: keep the generated archive at this path (for bench/ingest_python.py); not with --archive.")
    var writeArchive: String?
    @Option(help: ArgumentHelp("blas: comma-separated square matrix sizes (default 256,512,1024).", valueName: "n,n,…"))
    var sizes: String?

    /// The workloads of torch_reference.py, which `all` runs.
    static let workloads = ["W1", "W2", "W3", "W4", "W5"]
    /// Every name the command accepts, in help order.
    static let allNames = workloads + ["all"] + DiffusionWorkloads.names + ["ingest", "blas"]

    func validate() throws {
        guard Self.allNames.contains(workload) else {
            throw ValidationError("workload: expected one of \(Self.allNames.joined(separator: ", ")); got '\(workload)'")
        }
        guard threads > 0, (steps ?? 1) > 0, (warmup ?? 0) >= 0 else {
            throw ValidationError("--threads and --steps must be positive, --warmup non-negative")
        }
        if workload != "ingest" && (archive != nil || images != nil || writeArchive != nil) {
            throw ValidationError("--archive, --images and --write-archive apply only to the ingest workload")
        }
        if archive != nil && (images != nil || writeArchive != nil) {
            throw ValidationError("--images and --write-archive describe a generated archive; not with --archive")
        }
        if let images, images <= 0 { throw ValidationError("--images must be positive, got \(images)") }
        if sizes != nil && workload != "blas" { throw ValidationError("--sizes applies only to the blas workload") }
        _ = try sgemmSizes()
    }

    /// --sizes parsed (blas), or the defaults.
    func sgemmSizes() throws -> [Int] {
        guard let sizes else { return SGEMMWorkload.defaultSizes }
        let parsed = sizes.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil && (1...8192).contains($0!) }) else {
            throw ValidationError("--sizes: expected comma-separated integers from 1 to 8192, e.g. 256,512,1024")
        }
        return parsed.map { $0! }
    }

    /// (steps, warmup) for workload `w`: the command line's, else the workload's defaults.
    func stepCounts(_ w: String) -> (steps: Int, warmup: Int) {
        let defaults = DiffusionWorkloads.names.contains(w) ? DiffusionWorkloads.defaultSteps(w)
            : w == "blas" ? (steps: 5, warmup: 1) : (steps: 8, warmup: 1)
        return (steps ?? defaults.steps, warmup ?? defaults.warmup)
    }

    func run() throws {
        if workload == "all" {
            var failed = false
            for w in Self.workloads where !runChild(["bench", w] + stepArguments()) { failed = true }
            if failed { throw ExitCode(1) }
            return
        }
        if workload == "ingest" { return try runIngest() }
        if workload == "blas" { return try runSGEMM() }
        guard let result = try runOne(workload) else { throw ExitCode(1) }
        try printLine(result)
    }

    /// `fairgen bench blas`: one line per size, first with 1 thread, then with --threads.
    private func runSGEMM() throws {
        let (n, warm) = stepCounts("blas")
        for t in threads == 1 ? [1] : [1, threads] {
            for size in try sgemmSizes() {
                try printLine(SGEMMWorkload.run(size: size, threads: t, steps: n, warmup: warm))
            }
        }
    }

    /// `--threads` plus `--steps`/`--warmup` when given, for child processes.
    private func stepArguments() -> [String] {
        var args = ["--threads", "\(threads)"]
        if let steps { args += ["--steps", "\(steps)"] }
        if let warmup { args += ["--warmup", "\(warmup)"] }
        return args
    }

    /// Runs one workload in this process; nil (after a message on stderr) when it is not available.
    private func runOne(_ w: String) throws -> BenchResult? {
        let (n, warm) = stepCounts(w)
        if UNetWorkloads.shape(w) != nil {
            return UNetWorkloads.run(w, threads: threads, steps: n, warmup: warm)
        }
        if DiffusionWorkloads.names.contains(w) {
            return DiffusionWorkloads.run(w, threads: threads, steps: n, warmup: warm)
        }
        return ResNetWorkloads.run(w, threads: threads, steps: n, warmup: warm)
    }

    /// Writes `value` as one JSON line (sorted keys) to stdout.
    func printLine<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = String(decoding: try encoder.encode(value), as: UTF8.self)
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Runs `fairgen args…` as a child process of this same binary; its JSON line goes to our stdout.
    func runChild(_ args: [String]) -> Bool {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = args
        do {
            try child.run()
            child.waitUntilExit()
            return child.terminationStatus == 0
        } catch {
            Console.error("fairgen bench: could not start child for \(args.dropFirst().first ?? ""): \(error)")
            return false
        }
    }
}
