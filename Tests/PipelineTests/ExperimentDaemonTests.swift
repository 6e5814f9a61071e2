import Foundation
import Store
import Testing
@testable import Datasets
@testable import Pipeline

/// The `fairgen` binary: the daemon runs a drop whose manifest has an `experiment:` block as an experiment,
/// `store ls` lists its result, and `fairgen experiment` refuses a manifest without one.
@Suite(.serialized) struct ExperimentDaemonTests {
    @Test func watchRunsAnExperimentDropAndStoreLsListsIt() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        try ExperimentFixture.drop(dir.url.appendingPathComponent("inbox"), experiment: "experiment: {kind: ratio, levels: [0.5, 1]}\n")
        let watch = try DaemonFairgenProcess(["watch", "--once", "--settle", "200ms", "--profile", "quick",
                                              "--inbox", "inbox", "--store", "store"], in: dir, tag: "watch")
        #expect(watch.wait(timeout: 1500) == 0, "stderr: \(watch.stderr)")
        let store = try Store.open(at: dir.url.appendingPathComponent("store"), create: false)
        #expect(try store.experiments(of: "derm-demo") == ["ratio"])
        #expect(try store.versions(of: "derm-demo") == [1, 2], "one version per level")
        #expect(watch.stderr.contains("projected sweep time"))
        let ls = try DaemonFairgenProcess(["store", "ls", "--store", "store"], in: dir, tag: "ls")
        #expect(ls.wait(timeout: 60) == 0)
        let out = (try? String(contentsOfFile: ls.stdoutPath, encoding: .utf8)) ?? ""
        #expect(out.contains("EXPERIMENT") && out.contains("datasets/derm-demo/experiments/ratio/sweep.json"), "\(out)")
    }

    @Test func experimentCommandRefusesAManifestWithoutAnExperimentBlock() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        try ExperimentFixture.drop(dir.url.appendingPathComponent("inbox"), experiment: "")
        let p = try DaemonFairgenProcess(["experiment", "inbox/derm-demo.yaml", "--store", "store"], in: dir, tag: "exp")
        #expect(p.wait(timeout: 120) == 1)
        #expect(p.stderr.contains("no experiment: block"), "\(p.stderr)")
    }
}
