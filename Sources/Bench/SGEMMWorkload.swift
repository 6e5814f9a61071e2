import Tensors

/// `fairgen bench blas`: OpenBLAS sgemm throughput — the ceiling every conv and linear layer works under.
/// With the wrong kernels (OpenBLAS's SSE3 fallback on CPUs it does not know) this is 4–5× lower.
public enum SGEMMWorkload {
    /// Square sizes timed by default.
    public static let defaultSizes = [256, 512, 1024]

    /// One JSON line: C[n×n] = A·B at one size and thread count.
    public struct Line: Codable, Sendable {
        public var workload = "blas"
        public var m: Int
        public var n: Int
        public var k: Int
        public var threads: Int
        public var step_seconds_median: Double
        public var step_seconds_min: Double
        /// 2·m·n·k / median step time.
        public var gflops: Double
        public var engine = "fairgen"
        public var blas: BLASInfo
    }

    /// Times `steps` products (after `warmup`) at size `n` with `threads` OpenBLAS threads.
    public static func run(size n: Int, threads: Int, steps: Int, warmup: Int) -> Line {
        BLAS.setThreads(threads)
        var rng = RNG(seed: UInt64(n))
        var a = [Float](repeating: 0, count: n * n), b = a, c = a
        a.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        b.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        let times = Bench.time(steps: steps, warmup: warmup) {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.gemm(m: n, n: n, k: n, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
        }
        let sorted = times.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let flops = 2 * Double(n) * Double(n) * Double(n)
        return Line(m: n, n: n, k: n, threads: threads, step_seconds_median: Bench.round(median, 6),
                    step_seconds_min: Bench.round(sorted[0], 6),
                    gflops: median > 0 ? Bench.round(flops / median / 1e9, 1) : 0, blas: BLASInfo.current())
    }
}
