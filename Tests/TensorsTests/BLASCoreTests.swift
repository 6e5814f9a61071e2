import Foundation
import Testing
@testable import Tensors

/// CPUs as feature bits (no particular machine needed).
enum CPUs {
    static let sapphireRapids = CPUFeatures(vendor: .intel, avx2: true, fma: true, avx512f: true, avx512bw: true,
                                            avx512vl: true, avx512bf16: true, model: "Intel(R) Xeon(R) Platinum 8581C")
    static let skylakeServer = CPUFeatures(vendor: .intel, avx2: true, fma: true, avx512f: true, avx512bw: true,
                                           avx512vl: true)
    static let zen3 = CPUFeatures(vendor: .amd, avx2: true, fma: true, model: "AMD EPYC 7B13")
    static let zen4 = CPUFeatures(vendor: .amd, avx2: true, fma: true, avx512f: true, avx512bw: true, avx512vl: true,
                                  avx512bf16: true)
    static let haswell = CPUFeatures(vendor: .intel, avx2: true, fma: true)
    static let sandyBridge = CPUFeatures(vendor: .intel)
    /// AVX-512F alone (Knights Landing-like): not enough for the SkylakeX kernels.
    static let avx512FOnly = CPUFeatures(vendor: .intel, avx2: true, fma: true, avx512f: true)
}

/// OpenBLAS kernel choice: the pure decision functions (no particular CPU needed), the sgemm check, and
/// the start-up state machine that drives the re-exec.
@Suite struct BLASCoreTests {
    @Test(arguments: [
        (CPUs.sapphireRapids, "Cooperlake"), (CPUs.zen4, "Cooperlake"), (CPUs.skylakeServer, "SkylakeX"),
        (CPUs.avx512FOnly, "Haswell"), (CPUs.zen3, "Zen"), (CPUs.haswell, "Haswell"),
        (CPUFeatures(vendor: .other, avx2: true, fma: true), "Haswell"),
        (CPUFeatures(vendor: .intel, avx2: true, fma: false), nil), (CPUs.sandyBridge, nil),
    ] as [(CPUFeatures, String?)])
    func bestCoreFollowsTheFeatureBits(_ c: (CPUFeatures, String?)) {
        #expect(BLASCore.best(for: c.0) == c.1, "\(c.0.summary)")
    }

    /// (OpenBLAS's choice, CPU) → the core to switch to, or nil to keep.
    @Test(arguments: [
        ("Prescott", CPUs.sapphireRapids, "Cooperlake"),   // the 0.3.21 fallback on family 6 model 207
        ("Haswell", CPUs.sapphireRapids, "Cooperlake"),
        ("SkylakeX", CPUs.sapphireRapids, "Cooperlake"),
        ("Cooperlake", CPUs.sapphireRapids, nil),
        ("SapphireRapids", CPUs.sapphireRapids, nil),       // newer than anything we would pick
        ("Prescott", CPUs.skylakeServer, "SkylakeX"),
        ("Sandybridge", CPUs.skylakeServer, "SkylakeX"),
        ("Zen", CPUs.zen3, nil), ("Haswell", CPUs.zen3, nil),    // same generation: keep OpenBLAS's pick
        ("Nehalem", CPUs.zen3, "Zen"), ("Core2", CPUs.haswell, "Haswell"), ("prescott", CPUs.haswell, "Haswell"),
        ("Prescott", CPUs.sandyBridge, nil),
        ("Unknown", CPUs.sapphireRapids, nil), ("FancyNewCore", CPUs.zen3, nil),   // unknown names are left alone
    ] as [(String, CPUFeatures, String?)])
    func upgradeOnlyFromAKnownOlderCore(_ c: (String, CPUFeatures, String?)) {
        #expect(BLASCore.upgrade(from: c.0, for: c.1) == c.2, "\(c.0) on \(c.1.summary)")
    }

    @Test func ranksOrderTheGenerations() throws {
        let order = ["Prescott", "Sandybridge", "Haswell", "SkylakeX", "Cooperlake"]
        let ranks = try order.map { try #require(BLASCore.rank($0)) }
        #expect(ranks == ranks.sorted() && Set(ranks).count == ranks.count)
        #expect(BLASCore.rank("Zen") == BLASCore.rank("Haswell"))
        #expect(BLASCore.rank("Core2") == BLASCore.rank("Nehalem"))
        #expect(BLASCore.rank("skylakex") == BLASCore.rank("SkylakeX"))
        #expect(BLASCore.rank("Unknown") == nil)
        #expect(BLASCore.canonical("cooperLAKE") == "Cooperlake")
    }

    @Test func aCoreRunsOnlyWhereItsInstructionsExist() {
        #expect(BLASCore.runs("SkylakeX", on: CPUs.zen3) == false)   // OpenBLAS would accept it and die of SIGILL
        #expect(BLASCore.runs("Cooperlake", on: CPUs.skylakeServer) == false)
        #expect(BLASCore.runs("Cooperlake", on: CPUs.sapphireRapids) == true)
        #expect(BLASCore.runs("Zen", on: CPUs.sandyBridge) == false)
        #expect(BLASCore.runs("Haswell", on: CPUs.zen3) == true)
        #expect(BLASCore.runs("Prescott", on: CPUs.sandyBridge) == true)
        #expect(BLASCore.runs("Whatever", on: CPUs.zen3) == nil)
        #expect(BLASCore.runs("Piledriver", on: CPUs.haswell) == nil)   // FMA4: not an Intel instruction
        #expect(BLASCore.runs("Sandybridge", on: CPUs.zen3) == true)
    }

    // MARK: sgemm check

    /// A correct row-major product passes; every kind of wrong one fails.
    @Test func sgemmCheckPassesOpenBLASAndFailsWrongProducts() {
        #expect(SGEMMCheck.run { m, n, k, a, b, c in BLAS.gemm(m: m, n: n, k: k, a: a, b: b, c: c) }.passed)
        #expect(SGEMMCheck.openBLASFailure() == nil)

        let transposedB = SGEMMCheck.run { m, n, k, a, b, c in
            // reads B as if stored n×k: the classic layout bug
            BLAS.gemm(transB: true, m: m, n: n, k: k, a: a, b: b, ldb: k, c: c)
        }
        #expect(!transposedB.passed, "\(transposedB)")
        let lastColumnMissing = SGEMMCheck.run { m, n, k, a, b, c in
            BLAS.gemm(m: m, n: n - 1, k: k, a: a, b: b, ldb: n, c: c, ldc: n)   // column n−1 left unwritten
        }
        #expect(!lastColumnMissing.passed && lastColumnMissing.worstError == .infinity)
        let slightlyOff = SGEMMCheck.run { m, n, k, a, b, c in
            BLAS.gemm(m: m, n: n, k: k, a: a, b: b, c: c)
            c[7] += 0.01
        }
        #expect(!slightlyOff.passed, "\(slightlyOff)")
        let allNaN = SGEMMCheck.run { m, n, _, _, _, c in for i in 0..<(m * n) { c[i] = .nan } }
        #expect(!allNaN.passed)
    }

    // MARK: start-up state machine

    /// No marker, OpenBLAS fell back to Prescott on an AVX-512 CPU: switch, verify after the re-exec,
    /// record the selection; children inheriting the `done` marker do nothing more.
    @Test func autoSwitchThenVerify() throws {
        var checks = 0
        let first = BLASStartup.decide(environment: [:], active: "Prescott", cpu: CPUs.sapphireRapids) { checks += 1; return nil }
        #expect(first.reexec && checks == 0)
        #expect(first.environment["OPENBLAS_CORETYPE"] == "Cooperlake")
        let marker = try #require(first.environment[BLASStartup.marker] ?? nil)

        let env = ["OPENBLAS_CORETYPE": "Cooperlake", BLASStartup.marker: marker]
        let second = BLASStartup.decide(environment: env, active: "Cooperlake", cpu: CPUs.sapphireRapids) { checks += 1; return nil }
        #expect(!second.reexec && checks == 1)
        #expect(second.messages.count == 1 && second.messages[0].contains("Prescott") && second.messages[0].contains("Cooperlake"))
        let done = try #require(second.environment[BLASStartup.marker] ?? nil)
        #expect(BLASStartup.selection(environment: ["OPENBLAS_CORETYPE": "Cooperlake", BLASStartup.marker: done])
                == "auto (OpenBLAS chose Prescott)")

        let child = BLASStartup.decide(environment: ["OPENBLAS_CORETYPE": "Cooperlake", BLASStartup.marker: done],
                                       active: "Cooperlake", cpu: CPUs.sapphireRapids) { checks += 1; return nil }
        #expect(child == BLASStartup.Decision() && checks == 1)
    }

    /// The switched core fails its check: back to the original core once, with a warning, and no loop.
    @Test func failedCheckGoesBackOnceAndStops() throws {
        let first = BLASStartup.decide(environment: [:], active: "Prescott", cpu: CPUs.skylakeServer) { nil }
        let marker = try #require(first.environment[BLASStartup.marker] ?? nil)
        let env = ["OPENBLAS_CORETYPE": "SkylakeX", BLASStartup.marker: marker]
        let second = BLASStartup.decide(environment: env, active: "SkylakeX", cpu: CPUs.skylakeServer) { "wrong numbers" }
        #expect(second.reexec)
        #expect(second.environment["OPENBLAS_CORETYPE"] == "Prescott")
        #expect(second.messages.count == 1 && second.messages[0].contains("warning") && second.messages[0].contains("wrong numbers"))
        let fallback = try #require(second.environment[BLASStartup.marker] ?? nil)

        let third = BLASStartup.decide(environment: ["OPENBLAS_CORETYPE": "Prescott", BLASStartup.marker: fallback],
                                       active: "Prescott", cpu: CPUs.skylakeServer) { Issue.record("checked again"); return nil }
        #expect(third == BLASStartup.Decision())
        #expect(BLASStartup.selection(environment: [BLASStartup.marker: fallback]) == "fallback (SkylakeX failed its check)")
    }

    /// OpenBLAS ignored the request (it maps names it cannot run to another core): that is a failure too.
    @Test func corenameMismatchAfterReexecIsAFailure() throws {
        let first = BLASStartup.decide(environment: [:], active: "Nehalem", cpu: CPUs.zen3) { nil }
        let marker = try #require(first.environment[BLASStartup.marker] ?? nil)
        let second = BLASStartup.decide(environment: ["OPENBLAS_CORETYPE": "Zen", BLASStartup.marker: marker],
                                        active: "Haswell", cpu: CPUs.zen3) { nil }
        #expect(second.reexec && second.environment["OPENBLAS_CORETYPE"] == "Nehalem")
        #expect(second.messages.first?.contains("reports core Haswell") == true)
    }

    @Test func fairgenOverride() {
        // A runnable core: switch to it even though OpenBLAS's own is as good.
        let zen = BLASStartup.decide(environment: ["FAIRGEN_BLAS_CORETYPE": "haswell"], active: "Zen", cpu: CPUs.zen3) { nil }
        #expect(zen.reexec && zen.environment["OPENBLAS_CORETYPE"] == "Haswell")
        // keep: no switch even where auto would switch.
        let keep = BLASStartup.decide(environment: ["FAIRGEN_BLAS_CORETYPE": "keep"], active: "Prescott",
                                      cpu: CPUs.sapphireRapids) { nil }
        #expect(keep == BLASStartup.Decision())
        // Takes precedence over an explicit OPENBLAS_CORETYPE.
        let both = BLASStartup.decide(environment: ["FAIRGEN_BLAS_CORETYPE": "SkylakeX", "OPENBLAS_CORETYPE": "Prescott"],
                                      active: "Prescott", cpu: CPUs.sapphireRapids) { nil }
        #expect(both.environment["OPENBLAS_CORETYPE"] == "SkylakeX")
        // A core the CPU cannot run is refused (OpenBLAS would die of SIGILL), with a warning.
        let sigill = BLASStartup.decide(environment: ["FAIRGEN_BLAS_CORETYPE": "SkylakeX"], active: "Zen", cpu: CPUs.zen3) { nil }
        #expect(!sigill.reexec && sigill.environment.isEmpty)
        #expect(sigill.messages.first?.contains("lacks") == true)
        // A vendor-specific core cannot be checked against the feature bits: refused, pointing at OPENBLAS_CORETYPE.
        let fma4 = BLASStartup.decide(environment: ["FAIRGEN_BLAS_CORETYPE": "Piledriver"], active: "Haswell",
                                      cpu: CPUs.haswell) { nil }
        #expect(!fma4.reexec && fma4.messages.first?.contains("OPENBLAS_CORETYPE=Piledriver") == true)
        // An unknown name is refused; the message escapes it.
        let unknown = BLASStartup.decide(environment: ["FAIRGEN_BLAS_CORETYPE": "Zen9\u{1B}[31m"], active: "Zen", cpu: CPUs.zen3) { nil }
        #expect(!unknown.reexec)
        let message = unknown.messages.first ?? ""
        #expect(message.contains("unknown OpenBLAS core") && message.contains("Cooperlake") && !message.contains("\u{1B}"))
        // Already active: nothing to do.
        #expect(BLASStartup.decide(environment: ["FAIRGEN_BLAS_CORETYPE": "Zen"], active: "Zen", cpu: CPUs.zen3) { nil }
                == BLASStartup.Decision())
    }

    /// The user's own OPENBLAS_CORETYPE is respected — unless it fails the check (e.g. SIGILL).
    @Test func explicitOpenBLASCoretype() throws {
        let ok = BLASStartup.decide(environment: ["OPENBLAS_CORETYPE": "Prescott"], active: "Prescott",
                                    cpu: CPUs.sapphireRapids) { nil }
        #expect(!ok.reexec && ok.environment["OPENBLAS_CORETYPE"] == nil)
        #expect(BLASStartup.selection(environment: ["OPENBLAS_CORETYPE": "Prescott"]) == "OPENBLAS_CORETYPE")
        let bad = BLASStartup.decide(environment: ["OPENBLAS_CORETYPE": "SkylakeX"], active: "SkylakeX", cpu: CPUs.zen3) {
            "sgemm raised an illegal-instruction signal"
        }
        #expect(bad.reexec)
        #expect(bad.environment.keys.contains("OPENBLAS_CORETYPE") && bad.environment["OPENBLAS_CORETYPE"]! == nil)
        let marker = try #require(bad.environment[BLASStartup.marker] ?? nil)
        #expect(BLASStartup.decide(environment: [BLASStartup.marker: marker], active: "Zen", cpu: CPUs.zen3) { nil }
                == BLASStartup.Decision())
    }

    @Test func thisMachineIsDescribed() {
        let info = BLASInfo.current()
        #expect(!info.kernel.isEmpty && info.kernel == BLASCore.active)
        #expect(!info.cpu.isEmpty)
        #expect(info.threads >= 1)
        // On x86 the features are read; OpenBLAS must not have picked a core the CPU cannot run.
        if let runs = BLASCore.runs(info.kernel, on: CPUFeatures.current) { #expect(runs) }
    }
}
