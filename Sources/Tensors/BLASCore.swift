import CBLAS
import CCPUID
#if canImport(Glibc)
import Glibc
#endif

/// The CPU features that decide which OpenBLAS kernels can run, as CPUID reports them *and* the OS
/// enables them (an AVX-512 bit counts only when XGETBV says the ZMM state is saved).
public struct CPUFeatures: Sendable, Equatable {
    public enum Vendor: String, Sendable { case intel, amd, other }

    public var vendor: Vendor
    public var avx2: Bool
    public var fma: Bool
    public var avx512f: Bool
    public var avx512bw: Bool
    public var avx512vl: Bool
    public var avx512bf16: Bool
    /// The processor's brand string (e.g. "AMD EPYC 7B13"), else "family F model M", else "unknown".
    public var model: String

    public init(vendor: Vendor, avx2: Bool = false, fma: Bool = false, avx512f: Bool = false,
                avx512bw: Bool = false, avx512vl: Bool = false, avx512bf16: Bool = false, model: String = "test CPU") {
        self.vendor = vendor
        self.avx2 = avx2
        self.fma = fma
        self.avx512f = avx512f
        self.avx512bw = avx512bw
        self.avx512vl = avx512vl
        self.avx512bf16 = avx512bf16
        self.model = model
    }

    /// This machine's features (read once).
    public static let current: CPUFeatures = {
        var raw = fairgen_cpu_features()
        fairgen_cpu_features_read(&raw)
        let vendor = withUnsafeBytes(of: raw.vendor) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var brand = withUnsafeBytes(of: raw.brand) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        brand = brand.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        if brand.isEmpty { brand = raw.known != 0 ? "\(vendor) family \(raw.family) model \(raw.model)" : "unknown" }
        return CPUFeatures(vendor: vendor == "GenuineIntel" ? .intel : vendor == "AuthenticAMD" ? .amd : .other,
                           avx2: raw.avx2 != 0, fma: raw.fma != 0, avx512f: raw.avx512f != 0,
                           avx512bw: raw.avx512bw != 0, avx512vl: raw.avx512vl != 0,
                           avx512bf16: raw.avx512bf16 != 0, model: brand)
    }()

    /// The feature names that are present, for log lines ("AVX2 FMA AVX-512F …").
    public var summary: String {
        let flags: [(Bool, String)] = [(avx2, "AVX2"), (fma, "FMA"), (avx512f, "AVX-512F"), (avx512bw, "AVX-512BW"),
                                       (avx512vl, "AVX-512VL"), (avx512bf16, "AVX512_BF16")]
        let present = flags.filter(\.0).map(\.1)
        return present.isEmpty ? "no AVX2" : present.joined(separator: " ")
    }
}

/// Which OpenBLAS kernel set ("core") to use. Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH and
/// picks a core from the CPU model number; models it does not know (e.g. Intel family 6 model 207,
/// Sapphire/Emerald Rapids) get the Prescott (SSE3) kernels, 4–5× slower than SkylakeX/Cooperlake on
/// sgemm. These pure functions decide from the CPU's feature bits whether a better core applies
/// (docs/performance.md); `BLASStartup` acts on them.
public enum BLASCore {
    /// Kernel generations of the core names OpenBLAS 0.3.21 reports and accepts in OPENBLAS_CORETYPE
    /// (`strings libopenblas.so`), plus SapphireRapids (0.3.22+). Higher = newer instruction set.
    /// Names are matched case-insensitively, as OpenBLAS does.
    static let generations: [(name: String, rank: Int)] = [
        // SSE-only kernels
        ("Katmai", 1), ("Coppermine", 1), ("Northwood", 1), ("Prescott", 1), ("Banias", 1), ("Atom", 1),
        ("Core2", 1), ("Penryn", 1), ("Dunnington", 1), ("Nehalem", 1), ("Athlon", 1), ("Opteron", 1),
        ("Opteron_SSE3", 1), ("Barcelona", 1), ("Nano", 1), ("Bobcat", 1),
        // AVX (or AMD FMA4/FMA3) without AVX2
        ("Sandybridge", 2), ("Bulldozer", 2), ("Piledriver", 2), ("Steamroller", 2), ("Excavator", 2),
        // AVX2 + FMA
        ("Haswell", 3), ("Zen", 3),
        // AVX-512
        ("SkylakeX", 4), ("Cooperlake", 5), ("SapphireRapids", 6),
    ]

    /// The canonical spelling of a known core name, nil for a name this table does not know.
    public static func canonical(_ name: String) -> String? {
        let lower = name.lowercased()
        return generations.first { $0.name.lowercased() == lower }?.name
    }

    /// Generation of a core name; nil when unknown (then fairgen never switches away from it: an
    /// unknown name is more likely a newer OpenBLAS's new core than an old one).
    public static func rank(_ name: String) -> Int? {
        let lower = name.lowercased()
        return generations.first { $0.name.lowercased() == lower }?.rank
    }

    /// The best core OpenBLAS 0.3.21 has for these features; nil when nothing beyond its own choice
    /// applies (no AVX2+FMA).
    public static func best(for f: CPUFeatures) -> String? {
        if f.avx512f && f.avx512bw && f.avx512vl {
            return f.avx512bf16 ? "Cooperlake" : "SkylakeX"
        }
        if f.avx2 && f.fma { return f.vendor == .amd ? "Zen" : "Haswell" }
        return nil
    }

    /// Cores whose kernels may use vendor-specific instructions (3DNow!, FMA4, XOP, VIA's) that the
    /// feature bits read here do not cover.
    static let vendorSpecific: Set<String> = ["athlon", "opteron", "opteron_sse3", "barcelona", "bobcat", "bulldozer",
                                              "piledriver", "steamroller", "excavator", "nano"]

    /// Whether the CPU can run `core`'s kernels; nil when that cannot be told (a name this table does
    /// not know, or a vendor-specific core). OpenBLAS accepts OPENBLAS_CORETYPE=SkylakeX on a CPU
    /// without AVX-512 and then dies of SIGILL, so overrides are checked against this first.
    public static func runs(_ core: String, on f: CPUFeatures) -> Bool? {
        guard let rank = rank(core), !vendorSpecific.contains(core.lowercased()) else { return nil }
        switch rank {
        case 6: return false  // needs AMX as well; 0.3.21 has no such kernels anyway
        case 5: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512bf16
        case 4: return f.avx512f && f.avx512bw && f.avx512vl
        case 3: return f.avx2 && f.fma
        case 2: return f.avx2  // Sandybridge needs AVX; AVX2 (which implies it) is the bit we read
        default: return true   // Intel-lineage SSE kernels: every x86-64 CPU with SSE3 runs them
        }
    }

    /// The core to switch to when OpenBLAS's choice `current` is older than what the CPU supports;
    /// nil to keep it (already as good, or `current` is a name we do not know).
    public static func upgrade(from current: String, for f: CPUFeatures) -> String? {
        guard let best = best(for: f), let have = rank(current), let want = rank(best), have < want else { return nil }
        return best
    }

    /// The core OpenBLAS is running with in this process.
    public static var active: String { String(cString: openblas_get_corename()) }
}

/// Outcome of `SGEMMCheck.run`: the worst error against the naive reference and whether it passed.
public struct SGEMMCheckResult: Sendable, CustomStringConvertible {
    /// Largest |C − C_ref| / max(|C_ref|, 1); infinity when any element is not finite.
    public var worstError: Double
    public var tolerance: Double
    public var passed: Bool { worstError <= tolerance }
    public var description: String {
        passed ? "sgemm check passed (worst relative error \(worstError))"
               : "sgemm check failed: worst relative error \(worstError) > \(tolerance)"
    }
}

/// One small sgemm against a triple loop in Double: the check run after switching OpenBLAS cores.
public enum SGEMMCheck {
    /// A row-major C[m×n] = A[m×k]·B[k×n] to check (BLAS.gemm in production; tests pass broken ones).
    public typealias Gemm = (_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                             _ c: UnsafeMutablePointer<Float>) -> Void

    /// Runs `gemm` on fixed pseudo-random inputs of shape m×k·k×n (odd sizes, so edge kernels run too)
    /// and compares with the naive product; relative tolerance 1e-4 against max(|ref|, 1).
    public static func run(m: Int = 64, n: Int = 48, k: Int = 33, tolerance: Double = 1e-4, gemm: Gemm) -> SGEMMCheckResult {
        var rng = RNG(seed: 0x5EED_B1A5)
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: k * n)
        a.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        b.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -1, high: 1) }
        // NaN sentinel: a gemm that leaves part of C unwritten fails.
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in gemm(m, n, k, pa.baseAddress!, pb.baseAddress!, pc.baseAddress!) }
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var ref = 0.0
                for p in 0..<k { ref += Double(a[i * k + p]) * Double(b[p * n + j]) }
                let got = Double(c[i * n + j])
                let err = got.isFinite ? Swift.abs(got - ref) / Swift.max(Swift.abs(ref), 1) : .infinity
                if err > worst { worst = err }
            }
        }
        return SGEMMCheckResult(worstError: worst, tolerance: tolerance)
    }

    /// The check with OpenBLAS's sgemm, guarded against SIGILL (a core whose instructions the CPU
    /// lacks): nil when it passed, else why it failed.
    public static func openBLASFailure() -> String? {
        final class Box { var result: SGEMMCheckResult? }
        let box = Box()
        let crashed = withExtendedLifetime(box) {
            fairgen_call_catching_sigill({ ctx in
                let box = Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue()
                box.result = SGEMMCheck.run { m, n, k, a, b, c in BLAS.gemm(m: m, n: n, k: k, a: a, b: b, c: c) }
            }, Unmanaged.passUnretained(box).toOpaque())
        }
        if crashed != 0 { return "sgemm raised an illegal-instruction signal" }
        guard let result = box.result else { return "sgemm check did not run" }
        return result.passed ? nil : result.description
    }
}
