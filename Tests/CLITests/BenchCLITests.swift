import Foundation
import Testing

/// `fairgen bench`: argument checking and the (cheap) ingest workload. ddim50 and upsampler take minutes
/// and are smoke-run by hand (docs/performance.md), not here.
@Suite struct BenchCLITests {
    @Test func unknownWorkloadIsAUsageErrorNamingTheValidOnes() throws {
        let s = try Scratch()
        defer { s.remove() }
        let r = try s.run("bench", "nonsense")
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        for name in ["W1", "W2", "W3", "W4", "W5", "all", "ddim50", "upsampler", "ingest", "blas", "'nonsense'"] {
            #expect(r.stderr.contains(name), "stderr should name \(name): \(r.stderr)")
        }
    }

    @Test func ingestOptionsAreRejectedForOtherWorkloads() throws {
        let s = try Scratch()
        defer { s.remove() }
        let r = try s.run("bench", "W3", "--images", "5")
        #expect(r.status == 2)
        #expect(r.stderr.contains("--images"))
        #expect(r.stdout.isEmpty)
    }

    @Test func ingestOnAGeneratedArchivePrintsOneJSONLine() throws {
        let s = try Scratch()
        defer { s.remove() }
        // TMPDIR inside the scratch folder: the generated archive must be written there and removed after.
        let tmp = s.url.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let r = try s.run("bench", "ingest", "--images", "50", env: ["TMPDIR": tmp.path])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        try #require(lines.count == 1, "stdout: \(r.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(json["workload"] as? String == "ingest")
        #expect(json["images"] as? Int == 50)
        #expect((json["images_per_second"] as? Double ?? 0) > 0)
        #expect((json["peak_rss_mb"] as? Double ?? 0) > 0)

        // The temporary archive is gone; --write-archive keeps it, and --archive (the argument
        // bench/ingest_python.py takes too) benchmarks it the same way.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: tmp.path))?.isEmpty == true)
        let kept = try s.run("bench", "ingest", "--images", "50", "--write-archive", "drop.tar.gz")
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(FileManager.default.fileExists(atPath: s.url.appendingPathComponent("drop.tar.gz").path))
        let again = try s.run("bench", "ingest", "--archive", "drop.tar.gz")
        #expect(again.status == 0, "\(again.stderr)")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(second["images"] as? Int == 50)
    }

    /// `bench blas` at tiny sizes: one line per size for 1 thread and for --threads, each with GFLOP/s and
    /// the `blas` facts (kernel, selection, CPU, threads) that every bench line carries.
    /// A workload line carries every key torch_reference.py prints — an unknown FLOP count as null, not
    /// a missing key — so the two can be joined key by key. (W3, one forward of 64 images: seconds.)
    @Test func workloadLineHasTheReferenceKeys() throws {
        let s = try Scratch()
        defer { s.remove() }
        let r = try s.run("bench", "W3", "--steps", "1", "--warmup", "0", "--threads", "1")
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").last, "stdout: \(r.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for key in ["workload", "params", "step_seconds_median", "images_per_second", "gflop_per_step", "achieved_gflops",
                    "peak_rss_mb", "threads"] {
            #expect(json.keys.contains(key), "missing \(key) in \(line)")
        }
        #expect(json["workload"] as? String == "W3" && json["params"] as? Int == 6_475_011)
    }

    @Test func blasPrintsOneLinePerSizeAndThreadCount() throws {
        let s = try Scratch()
        defer { s.remove() }
        let r = try s.run("bench", "blas", "--sizes", "16,33", "--threads", "2", "--steps", "2", "--warmup", "0")
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        try #require(lines.count == 4, "stdout: \(r.stdout)")
        var seen: [String] = []
        for line in lines {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(json["workload"] as? String == "blas")
            #expect((json["gflops"] as? Double ?? 0) > 0, "\(line)")
            let n = try #require(json["n"] as? Int), threads = try #require(json["threads"] as? Int)
            #expect(json["m"] as? Int == n && json["k"] as? Int == n)
            seen.append("\(n)x\(threads)")
            let blas = try #require(json["blas"] as? [String: Any], "\(line)")
            #expect((blas["kernel"] as? String)?.isEmpty == false)
            #expect((blas["cpu"] as? String)?.isEmpty == false)
            #expect(blas["selection"] is String)
            #expect(blas["threads"] as? Int == threads)
        }
        #expect(seen == ["16x1", "33x1", "16x2", "33x2"])
    }

    @Test func blasSizesAreChecked() throws {
        let s = try Scratch()
        defer { s.remove() }
        for bad in ["0", "16,x", "", "99999"] {
            let r = try s.run("bench", "blas", "--sizes", bad)
            #expect(r.status == 2, "--sizes \(bad)")
            #expect(r.stderr.contains("--sizes"))
        }
        let other = try s.run("bench", "W3", "--sizes", "16")
        #expect(other.status == 2 && other.stderr.contains("--sizes"))
    }

    /// FAIRGEN_BLAS_CORETYPE: a core the CPU cannot run is refused with a warning (OpenBLAS itself would
    /// accept SkylakeX on a CPU without AVX-512 and die of SIGILL); an unknown name is refused too.
    @Test func blasOverrideThatCannotRunIsRefused() throws {
        let s = try Scratch()
        defer { s.remove() }
        let cpuHasAVX512 = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).contains(" avx512bw ")
        if !cpuHasAVX512 {
            let r = try s.run("bench", "blas", "--sizes", "8", "--threads", "1", "--steps", "1",
                              env: ["FAIRGEN_BLAS_CORETYPE": "SkylakeX"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("FAIRGEN_BLAS_CORETYPE=SkylakeX needs instructions"), "\(r.stderr)")
            #expect(!r.stdout.contains("\"SkylakeX\""))
        }
        let unknown = try s.run("bench", "blas", "--sizes", "8", "--threads", "1", "--steps", "1",
                                env: ["FAIRGEN_BLAS_CORETYPE": "NoSuchCore"])
        #expect(unknown.status == 0, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("unknown OpenBLAS core \"NoSuchCore\""), "\(unknown.stderr)")
    }

    /// An explicit OPENBLAS_CORETYPE is respected and recorded as the selection.
    @Test func explicitOpenBLASCoretypeIsRecorded() throws {
        let s = try Scratch()
        defer { s.remove() }
        let r = try s.run("bench", "blas", "--sizes", "8", "--threads", "1", "--steps", "1",
                          env: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let blas = try #require(json["blas"] as? [String: Any])
        #expect(blas["kernel"] as? String == "Prescott")
        #expect(blas["selection"] as? String == "OPENBLAS_CORETYPE")
    }

    @Test func ingestOfAMissingArchiveIsRejected() throws {
        let s = try Scratch()
        defer { s.remove() }
        let r = try s.run("bench", "ingest", "--archive", "missing.tar.gz")
        #expect(r.status == 1)
        #expect(r.stderr.contains("missing.tar.gz"))
        #expect(r.stdout.isEmpty)
    }
}
