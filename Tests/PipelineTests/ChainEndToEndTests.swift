import Foundation
import Store
import Testing
@testable import Daemon
@testable import Datasets
@testable import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// Issue 6's acceptance, end to end through the `fairgen` executable on a small demo drop with
/// `--profile quick`:
/// 1. `fairgen watch --once` runs the whole chain and files a complete version (metrics, report,
///    checkpoints, shards, grids), moving the drop to `.processed/`;
/// 2. dropping the same archive again makes a second version in seconds with every stage reused;
/// 3. a daemon killed with SIGKILL during DDPM training resumes on restart, and the finished version is
///    byte-for-byte the uninterrupted one (every file's object id equal);
/// 4. `fairgen store verify` passes on both stores and no temporary files remain.
@Suite(.serialized) struct ChainEndToEndTests {
    static var spec: DemoData.Spec {
        var s = DemoData.Spec()
        s.train = 200; s.val = 60; s.testID = 90; s.testOOD = 90; s.unlabeled = 100
        return s
    }

    static func watch(_ dir: DaemonTempDir, _ name: String, once: Bool = true, tag: String) throws -> DaemonFairgenProcess {
        var args = ["watch", "--settle", "200ms", "--profile", "quick", "--inbox", "\(name)/inbox", "--store", "\(name)/store"]
        if once { args.insert("--once", at: 1) }
        return try DaemonFairgenProcess(args, in: dir, tag: tag)
    }

    static func files(_ dir: DaemonTempDir, _ name: String, version: Int) throws -> RunRecord {
        let store = try Store.open(at: dir.url.appendingPathComponent("\(name)/store"), create: false)
        return try store.runRecord(dataset: DemoDrop.name, version: version)
    }

    /// Files left under `store/tmp` (directories included).
    static func leftovers(_ dir: DaemonTempDir, _ name: String) -> [String] {
        let tmp = dir.sub("\(name)/store/tmp")
        return (FileManager.default.enumerator(atPath: tmp)?.allObjects as? [String]) ?? []
    }

    static func verify(_ dir: DaemonTempDir, _ name: String) throws -> Int32? {
        let p = try DaemonFairgenProcess(["store", "verify", "--store", "\(name)/store"], in: dir, tag: "verify-\(name)")
        return p.wait(timeout: 120)
    }

    @Test func watchRunsTheChainReusesItAndResumesAfterKillNine() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }

        // 1. Uninterrupted run.
        try DemoDrop.write(into: dir.url.appendingPathComponent("a/inbox"), spec: Self.spec)
        let first = try Self.watch(dir, "a", tag: "a1")
        #expect(first.wait(timeout: 1200) == 0, "stderr: \(first.stderr)")
        let run1 = try Self.files(dir, "a", version: 1)
        #expect(run1.status == .complete, "\(run1.error ?? "")\n\(first.stderr)")
        for path in ["metrics.json", "report.html", "checkpoints/ddpm.safetensors", "checkpoints/upsampler.safetensors",
                     "checkpoints/classifier-baseline-seed0.safetensors", "checkpoints/classifier-synthetic_a0.50-seed0.safetensors",
                     "checkpoints/classifier-oversample-seed0.safetensors",
                     "checkpoints/classifier-synthetic_a0.50+heuristic-seed0.safetensors",
                     "checkpoints/classifier-synthetic_a0.50+oversample-seed0.safetensors", "synthetic/shard-00000.tar",
                     "samples/grid-001-melanoma.png", "input/derm-demo.tar.gz"] {
            #expect(run1.files[path] != nil, "v0001 lacks \(path); has \(run1.files.keys.sorted())")
        }
        let metrics = try MetricsSummary(json: Array(Data(contentsOf: dir.url.appendingPathComponent("a/store/datasets/derm-demo/latest/metrics.json"))))
        #expect(metrics.version == 1 && metrics.selectedAlpha == 0.5)
        // The quick profile trains the stacked variants too, so this run covers them end to end.
        #expect(Set(metrics.variants.map(\.name))
            == ["baseline", "synthetic_a0.50", "synthetic_a0.50+heuristic", "synthetic_a0.50+oversample", "oversample"])
        #expect(metrics.selectedVariant?.hasPrefix("synthetic_a0.50") == true)
        #expect(metrics.variant("baseline")?.splits["test_ood"]?.accuracy?.mean != nil)
        #expect(daemonOutcomeFolders(dir.sub("a/inbox"), ".processed").count == 1)
        #expect(Self.leftovers(dir, "a").isEmpty, "left in store/tmp: \(Self.leftovers(dir, "a"))")

        // 2. The same drop again: a new version, every stage reused, in seconds.
        try DemoDrop.write(into: dir.url.appendingPathComponent("a/inbox"), spec: Self.spec)
        let begin = Date()
        let again = try Self.watch(dir, "a", tag: "a2")
        #expect(again.wait(timeout: 300) == 0, "stderr: \(again.stderr)")
        let seconds = Date().timeIntervalSince(begin)
        let run2 = try Self.files(dir, "a", version: 2)
        #expect(run2.status == .complete)
        #expect(!run2.stages.isEmpty && run2.stages.values.allSatisfy { $0.status == .cached }, "\(run2.stages.mapValues(\.status))")
        #expect(seconds < 60, "a fully cached reprocess took \(seconds) s")
        var expected = run1.files
        expected["metrics.json"] = nil; expected["report.html"] = nil       // they name the version
        var got = run2.files
        got["metrics.json"] = nil; got["report.html"] = nil
        #expect(got == expected)
        #expect(try Self.verify(dir, "a") == 0)

        // 3. Killed with SIGKILL while the DDPM trains, then restarted: same version, same bytes.
        try DemoDrop.write(into: dir.url.appendingPathComponent("b/inbox"), spec: Self.spec)
        let doomed = try Self.watch(dir, "b", once: false, tag: "b1")
        let resume = dir.sub("b/store/tmp/resume")
        let checkpointed = daemonWaitUntil(timeout: 600) {
            (try? FileManager.default.contentsOfDirectory(atPath: resume))?.contains { name in
                name.hasPrefix("train-ddpm-") && FileManager.default.fileExists(atPath: resume + "/" + name + "/training.safetensors")
            } ?? false
        }
        #expect(checkpointed, "no DDPM training checkpoint appeared; stderr: \(doomed.stderr)")
        kill(doomed.process.processIdentifier, SIGKILL)
        doomed.process.waitUntilExit()
        let interrupted = try Self.files(dir, "b", version: 1)
        #expect(interrupted.status == .running && interrupted.stages["train-ddpm"]?.status == .running)

        let restarted = try Self.watch(dir, "b", tag: "b2")
        #expect(restarted.wait(timeout: 1200) == 0, "stderr: \(restarted.stderr)")
        #expect(restarted.stderr.contains("resuming v0001"), "stderr: \(restarted.stderr)")
        let resumed = try Self.files(dir, "b", version: 1)
        #expect(resumed.status == .complete)
        #expect(resumed.files == run1.files, "the resumed run differs from the uninterrupted one")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("b/store/datasets/derm-demo/v0002")))
        #expect(Self.leftovers(dir, "b").isEmpty, "left in store/tmp: \(Self.leftovers(dir, "b"))")
        #expect(try Self.verify(dir, "b") == 0)
    }
}
