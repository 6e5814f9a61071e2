import Foundation
import Store
import Testing
@testable import Daemon
@testable import Datasets
@testable import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// The one-node Slurm of `scripts/slurm-local.sh`, started for these tests (idempotent: `make test` has
/// usually started it already and stops it afterwards). A service that cannot start fails the test
/// with the script's reason; nothing is skipped.
enum SlurmLocal {
    static var directory: String {
        ProcessInfo.processInfo.environment["FAIRGEN_SLURM_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp/fairgen-slurm-\(getuid())"
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/slurm-local.sh").path
    }

    /// Starts the cluster when it is not up; returns the environment its clients need.
    static func start() throws -> [String: String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [script, "start", directory]
        // A file, not a pipe: the daemons the script starts would inherit the pipe and keep it open.
        let outPath = NSTemporaryDirectory() + "slurm-local-start-\(getpid()).out"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let out = FileHandle(forWritingAtPath: outPath)
        p.standardOutput = out
        p.standardError = out
        try p.run()
        p.waitUntilExit()
        try? out?.close()
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard p.terminationStatus == 0 else {
            throw DaemonError("scripts/slurm-local.sh start \(directory) failed (exit \(p.terminationStatus)):\n\(text)")
        }
        return ["SLURM_CONF": directory + "/slurm.conf"]
    }

    /// Runs a Slurm client tool; returns its stdout.
    @discardableResult
    static func tool(_ name: String, _ args: [String], env: [String: String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [name] + args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text
    }
}

/// Issue 15's acceptance on one machine:
/// 1. the demo drop through `fairgen run --executor slurm` gives the very object ids of
///    `--executor local` (every file of the version, every stage key), with each stage recorded
///    `complete` by its job;
/// 2. the train-ddpm job killed with `scancel` mid-training is resubmitted by the executor and the new
///    job resumes from the checkpoint the killed one saved;
/// 3. two daemons on two "nodes" (FAIRGEN_HOSTNAME) sharing one store never run a stage twice.
/// The drop is `ChainEndToEndTests.spec` with `--profile quick`, the smallest chain the suite runs.
@Suite(.serialized) struct SlurmExecutorTests {
    static func record(_ dir: DaemonTempDir, _ store: String) throws -> RunRecord {
        try Store.open(at: dir.url.appendingPathComponent(store), create: false).runRecord(dataset: DemoDrop.name, version: 1)
    }

    @Test func slurmRunMatchesLocalObjectIdsAndResumesAfterScancel() throws {
        let env = try SlurmLocal.start()
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let manifest = try DemoDrop.write(into: dir.url.appendingPathComponent("drop"), spec: ChainEndToEndTests.spec)
        try FileManager.default.createDirectory(atPath: dir.sub("slurm/config"), withIntermediateDirectories: true)
        try Data("cpus: 2\npoll_seconds: 1\nmax_resubmits: 2\n".utf8).write(to: URL(fileURLWithPath: dir.sub("slurm/config/slurm.yaml")))

        let slurm = try DaemonFairgenProcess(["run", manifest, "--profile", "quick", "--store", "slurm", "--executor", "slurm"],
                                             in: dir, tag: "slurm", env: env)
        // Kill the DDPM's job once it has saved a training checkpoint.
        let resume = dir.sub("slurm/tmp/resume")
        let checkpointed = daemonWaitUntil(timeout: 900) {
            (try? FileManager.default.contentsOfDirectory(atPath: resume))?.contains { name in
                name.hasPrefix("train-ddpm-") && FileManager.default.fileExists(atPath: resume + "/" + name + "/training.safetensors")
            } ?? false
        }
        #expect(checkpointed, "no DDPM checkpoint appeared; stderr: \(slurm.stderr)")
        let jobsLog = dir.sub("slurm/cluster/\(DemoDrop.name)/v0001/jobs.log")
        func ddpmJobs() -> [String] {
            ((try? String(contentsOfFile: jobsLog, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { line in
                    let parts = line.split(separator: " ")
                    return parts.count > 2 && parts[1] == "train-ddpm" ? String(parts[2]) : nil
                }
        }
        let killed = try #require(ddpmJobs().first, "jobs.log names no train-ddpm job: \(jobsLog)")
        try SlurmLocal.tool("scancel", [killed], env: env)

        // Meanwhile the same drop in this process's own executor.
        let local = try DaemonFairgenProcess(["run", manifest, "--profile", "quick", "--store", "local", "--executor", "local"],
                                             in: dir, tag: "local")
        #expect(local.wait(timeout: 1500) == 0, "stderr: \(local.stderr)")
        #expect(slurm.wait(timeout: 1500) == 0, "stderr: \(slurm.stderr)")

        let a = try Self.record(dir, "local"), b = try Self.record(dir, "slurm")
        #expect(a.status == .complete && b.status == .complete, "\(b.error ?? "")")
        #expect(!a.files.isEmpty && a.files == b.files, "the Slurm run's files differ from the local run's")
        #expect(a.stages.mapValues(\.key) == b.stages.mapValues(\.key))
        #expect(a.stages.mapValues(\.outputs) == b.stages.mapValues(\.outputs))
        #expect(b.stages.values.allSatisfy { $0.status == .complete }, "\(b.stages.mapValues(\.status))")

        // The scancel'd job was resubmitted, and the new job resumed from the saved checkpoint.
        let ddpm = ddpmJobs()
        #expect(ddpm.count == 2 && ddpm[0] == killed, "train-ddpm jobs: \(ddpm)")
        #expect(slurm.stderr.contains("Slurm job \(killed) (train-ddpm) ended CANCELLED; resubmitting"), "stderr: \(slurm.stderr)")
        if ddpm.count == 2 {
            let log = (try? String(contentsOfFile: dir.sub("slurm/cluster/\(DemoDrop.name)/v0001/logs/train-ddpm-\(ddpm[1]).out"),
                                   encoding: .utf8)) ?? ""
            #expect(log.contains("train-ddpm: resuming from the checkpoint"), "log of job \(ddpm[1]): \(log)")
        }
        // The classifiers ran as job arrays; the job scripts are kept beside the logs.
        #expect(FileManager.default.fileExists(atPath: dir.sub("slurm/cluster/\(DemoDrop.name)/v0001/scripts/classify-synthetic.sh")))
        let verify = try DaemonFairgenProcess(["store", "verify", "--store", "slurm"], in: dir, tag: "verify")
        #expect(verify.wait(timeout: 120) == 0, "stderr: \(verify.stderr)")
    }

    /// A job that fails for good fails the drop; error.json names the stage and the job's log file.
    @Test func aFailedJobsLogPathIsInErrorJSON() throws {
        let env = try SlurmLocal.start()
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        _ = try DemoDrop.write(into: dir.url.appendingPathComponent("inbox"), spec: ChainEndToEndTests.spec)
        try FileManager.default.createDirectory(atPath: dir.sub("store/config"), withIntermediateDirectories: true)
        try Data("poll_seconds: 0.5\nsetup: |\n  echo failing on purpose\n  exit 3\n".utf8)
            .write(to: URL(fileURLWithPath: dir.sub("store/config/slurm.yaml")))
        let watch = try DaemonFairgenProcess(["watch", "--once", "--settle", "200ms", "--profile", "quick", "--executor", "slurm",
                                              "--inbox", "inbox", "--store", "store"], in: dir, tag: "watch", env: env)
        #expect(watch.wait(timeout: 300) != nil, "stderr: \(watch.stderr)")
        let failed = daemonOutcomeFolders(dir.sub("inbox"), ".failed")
        let folder = try #require(failed.first, "no .failed folder; stderr: \(watch.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/error.json"))
        let error = try JSONDecoder().decode(Outcomes.ErrorFile.self, from: data)
        #expect(error.stage == "ingest")
        #expect(error.message.contains("ended FAILED"), "\(error.message)")
        let log = try #require(error.log, "error.json has no log: \(String(decoding: data, as: UTF8.self))")
        #expect(log.hasPrefix(dir.sub("store/cluster/\(DemoDrop.name)/v0001/logs/ingest-")))
        #expect(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("failing on purpose"))
        let run = try Self.record(dir, "store")
        #expect(run.status == .failed && run.error?.contains("Slurm job") == true)

        // The job spec stays: a stage run by hand whose input stage never ran fails, naming it.
        let ddpm = try DaemonFairgenProcess(["stage", "run", "--store", "store", "--run", "\(DemoDrop.name)/v1", "--stage", "train-ddpm"],
                                            in: dir, tag: "stage-ddpm")
        #expect(ddpm.wait(timeout: 120) == 1)
        #expect(ddpm.stderr.contains("its input stage ingest (key "), "stderr: \(ddpm.stderr)")
        let bogus = try DaemonFairgenProcess(["stage", "run", "--store", "store", "--run", "\(DemoDrop.name)/v1", "--stage", "train"],
                                             in: dir, tag: "stage-bogus")
        #expect(bogus.wait(timeout: 120) == 1)
        #expect(bogus.stderr.contains("--stage train: not a stage of this run"), "stderr: \(bogus.stderr)")
    }

    @Test func twoDaemonsOnTwoNodesNeverRunAStageTwice() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        _ = try DemoDrop.write(into: dir.url.appendingPathComponent("inbox-a"), spec: ChainEndToEndTests.spec)
        _ = try DemoDrop.write(into: dir.url.appendingPathComponent("inbox-b"), spec: ChainEndToEndTests.spec)
        func daemon(_ node: String, _ tag: String) throws -> DaemonFairgenProcess {
            try DaemonFairgenProcess(["watch", "--once", "--settle", "200ms", "--profile", "quick", "--inbox", "inbox-\(node)",
                                      "--store", "store"], in: dir, tag: tag, env: ["FAIRGEN_HOSTNAME": "node-\(node)"])
        }
        let a = try daemon("a", "a")
        #expect(daemonWaitUntil(timeout: 60) { FileManager.default.fileExists(atPath: dir.sub("store/locks/daemon.lease")) })
        // The daemon's lease names node a; node b cannot take it while node a's heartbeat runs.
        let lease = dir.sub("store/locks/daemon.lease")
        #expect(LeaseLock.readHolder(lease)?.host == "node-a")
        #expect(throws: StoreError.self) {
            try LeaseLock.acquire(lease, purpose: "fairgen daemon", lease: 2, wait: 4,
                                  identity: LeaseLock.Identity(host: "node-b", pid: getpid(), boot: "node-b-boot"))
        }
        let b = try daemon("b", "b1")
        #expect(b.wait(timeout: 120) == 1, "stderr: \(b.stderr)")
        #expect(b.stderr.contains("another fairgen daemon"), "stderr: \(b.stderr)")
        #expect(a.wait(timeout: 1500) == 0, "stderr: \(a.stderr)")
        // Node b's daemon, once node a's is gone, takes the store and finds every stage done.
        let again = try daemon("b", "b2")
        #expect(again.wait(timeout: 600) == 0, "stderr: \(again.stderr)")
        let ran = (a.stderr + b.stderr + again.stderr).split(separator: "\n").filter { $0.contains(": start (key ") && !$0.contains("cached") }
        let keys = ran.compactMap { line in line.range(of: "(key ").map { String(line[$0.upperBound...].prefix(12)) } }
        #expect(!keys.isEmpty && Set(keys).count == keys.count, "a stage key started twice: \(ran)")
        let store = try Store.open(at: dir.url.appendingPathComponent("store"), create: false)
        let second = try store.runRecord(dataset: DemoDrop.name, version: 2)
        #expect(second.status == .complete && second.stages.values.allSatisfy { $0.status == .cached })
        #expect(!FileManager.default.fileExists(atPath: dir.sub("store/locks/daemon.lease")))
    }
}
