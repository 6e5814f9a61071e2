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
        for name in ["W1", "W2", "W3", "W4", "W5", "all", "ddim50", "upsampler", "ingest", "'nonsense'"] {
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

    @Test func ingestOfAMissingArchiveIsRejected() throws {
        let s = try Scratch()
        defer { s.remove() }
        let r = try s.run("bench", "ingest", "--archive", "missing.tar.gz")
        #expect(r.status == 1)
        #expect(r.stderr.contains("missing.tar.gz"))
        #expect(r.stdout.isEmpty)
    }
}
