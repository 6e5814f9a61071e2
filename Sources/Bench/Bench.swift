import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// One benchmark result line; keys match `shared/bench/torch_reference.py` so the two can be
/// compared as a ratio (plus `engine`, which says which side produced the line, and `blas`: the OpenBLAS
/// kernel, how it was chosen, the CPU and OpenBLAS's thread count, so lines from different machines or
/// kernel choices are never compared blindly).
public struct BenchResult: Codable, Sendable {
    public var workload: String
    public var params: Int
    public var step_seconds_median: Double
    public var step_seconds_min: Double
    public var images_per_second: Double
    public var gflop_per_step: Double?
    public var achieved_gflops: Double?
    public var peak_rss_mb: Double
    public var engine: String = "fairgen"
    public var threads: Int
    public var blas: BLASInfo

    public init(workload: String, params: Int, stepSeconds: [Double], batch: Int, gflopPerStep: Double?, threads: Int) {
        let sorted = stepSeconds.sorted()
        let med = sorted.isEmpty ? 0 : (sorted.count % 2 == 1 ? sorted[sorted.count / 2]
                                        : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2)
        self.workload = workload
        self.params = params
        self.step_seconds_median = Bench.round(med, 5)
        self.step_seconds_min = Bench.round(sorted.first ?? 0, 5)
        self.images_per_second = Bench.round(med > 0 ? Double(batch) / med : 0, 2)
        self.gflop_per_step = gflopPerStep.map { Bench.round($0, 3) }
        self.achieved_gflops = gflopPerStep.map { med > 0 ? Bench.round($0 / med, 1) : 0 }
        self.peak_rss_mb = Bench.round(Bench.peakRSSMegabytes(), 1)
        self.threads = threads
        self.blas = BLASInfo.current()
    }

    enum CodingKeys: String, CodingKey {
        case workload, params, step_seconds_median, step_seconds_min, images_per_second, gflop_per_step,
             achieved_gflops, peak_rss_mb, engine, threads, blas
    }

    /// Every key is written, an unknown FLOP count as `null` (as torch_reference.py writes `None`), so a
    /// line has the reference's keys whatever the workload.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(workload, forKey: .workload)
        try c.encode(params, forKey: .params)
        try c.encode(step_seconds_median, forKey: .step_seconds_median)
        try c.encode(step_seconds_min, forKey: .step_seconds_min)
        try c.encode(images_per_second, forKey: .images_per_second)
        try c.encode(gflop_per_step, forKey: .gflop_per_step)
        try c.encode(achieved_gflops, forKey: .achieved_gflops)
        try c.encode(peak_rss_mb, forKey: .peak_rss_mb)
        try c.encode(engine, forKey: .engine)
        try c.encode(threads, forKey: .threads)
        try c.encode(blas, forKey: .blas)
    }
}

/// Timing helpers shared by the workloads.
public enum Bench {
    /// Monotonic seconds.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Runs `step` `warmup` times untimed, then `steps` times timed; returns the step times.
    public static func time(steps: Int, warmup: Int, _ step: () -> Void) -> [Double] {
        for _ in 0..<warmup { step() }
        var out: [Double] = []
        for _ in 0..<steps {
            let t0 = now()
            step()
            out.append(now() - t0)
        }
        return out
    }

    /// Peak resident set size of this process (ru_maxrss is KiB on Linux).
    public static func peakRSSMegabytes() -> Double {
        var ru = rusage()
        getrusage(RUSAGE_SELF.rawValue, &ru)
        return Double(ru.ru_maxrss) / 1024
    }

    static func round(_ x: Double, _ digits: Int) -> Double {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        return (x * p).rounded() / p
    }
}
