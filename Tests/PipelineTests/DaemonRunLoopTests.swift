import Foundation
import Testing
@testable import Daemon
#if canImport(Glibc)
import Glibc
#endif

private func config(_ dir: DaemonTempDir, once: Bool) -> DaemonConfig {
    var c = DaemonConfig(inbox: URL(fileURLWithPath: dir.sub("inbox")), store: URL(fileURLWithPath: dir.sub("store")))
    c.once = once
    c.settle = 0.3
    c.pollInterval = 0.2
    return c
}

/// Queues a drop `name` and claims it (pending → running), as a daemon would just before running it.
private func enqueueAndClaim(_ queue: JobQueue, inbox: String, name: String) throws -> Job {
    daemonWriteDrop(inbox: inbox, name: name)
    let job = try queue.enqueue(kind: .ingest, dataset: name, manifestSource: inbox + "/\(name).yaml",
                                archiveSource: inbox + "/\(name).tar.gz", inbox: inbox, inputs: [], note: "test")
    return try #require(try queue.claim(id: job.id))
}

@Suite("Daemon run loop")
struct DaemonRunLoopTests {
    @Test func onceProcessesPreexistingDropsAndExits() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let hashes = daemonWriteDrop(inbox: dir.sub("inbox"), name: "early", seed: 5)
        daemonWriteDrop(inbox: dir.sub("inbox"), name: "early2", seed: 6)
        let runner = DaemonFakeRunner(.succeed)
        try Daemon(config: config(dir, once: true), runner: runner, logger: daemonQuietLogger()).run()
        #expect(runner.started.count == 2)
        #expect(runner.sawInputs.allSatisfy { $0.count == 2 })
        let processed = daemonOutcomeFolders(dir.sub("inbox"), ".processed")
        #expect(processed.count == 2)
        let early = try #require(processed.first { $0.hasSuffix("-early") })
        for (name, hash) in hashes { #expect(daemonFileHash(early + "/" + name) == hash) }
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        #expect(queue.ids(.done).count == 2 && queue.ids(.pending).isEmpty && queue.ids(.running).isEmpty)
        #expect(FileOps.list(queue.root + "/work").isEmpty)
        #expect(Set(FileOps.list(dir.sub("inbox"))) == [".claims", ".processed"])
        #expect(FileOps.list(dir.sub("inbox/.claims")) == [".lock"])
    }

    @Test func failedJobLandsInFailedWithErrorJSON() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        daemonWriteDrop(inbox: dir.sub("inbox"), name: "broken")
        try Daemon(config: config(dir, once: true), runner: DaemonFakeRunner(.fail), logger: daemonQuietLogger()).run()
        let failed = try #require(daemonOutcomeFolders(dir.sub("inbox"), ".failed").first)
        let error = try JSONDecoder().decode(Outcomes.ErrorFile.self, from: try FileOps.read(failed + "/error.json"))
        #expect(error.stage == "ingest" && error.message.contains("table"))
        #expect(FileOps.exists(failed + "/broken.tar.gz") && FileOps.exists(failed + "/broken.yaml"))
    }

    @Test func dropArrivingWhileRunningIsProcessedAndStopIsPrompt() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let daemon = Daemon(config: config(dir, once: false), runner: DaemonFakeRunner(.succeed), logger: daemonQuietLogger())
        let bg = DaemonBackground(daemon)
        #expect(daemonWaitUntil(timeout: 20) { FileOps.exists(DaemonLock.path(store: URL(fileURLWithPath: dir.sub("store")))) })
        // Fresh files (not back-dated), written in place: complete after the settle period.
        let hashes = daemonWriteDrop(inbox: dir.sub("inbox"), name: "live", ageSeconds: nil)
        // The outcome folder is created first, then filled: wait for the last file.
        #expect(daemonWaitUntil(timeout: 20) {
            daemonOutcomeFolders(dir.sub("inbox"), ".processed").count == 1 && FileOps.list(dir.sub("inbox")).count == 2
        })
        let folder = try #require(daemonOutcomeFolders(dir.sub("inbox"), ".processed").first)
        for (name, hash) in hashes {
            #expect(daemonFileHash(folder + "/" + name) == hash,
                    "\(name): outcome holds \(FileOps.list(folder)), inbox holds \(FileOps.list(dir.sub("inbox")))")
        }
        let begin = Date()
        daemon.requestStop(reason: "test")
        #expect(daemonWaitUntil(timeout: 10) { bg.done })
        #expect(Date().timeIntervalSince(begin) < 10)
        #expect(bg.error == nil)
    }

    @Test func stopInterruptsTheRunningJobWhichResumesOnRestart() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let hashes = daemonWriteDrop(inbox: dir.sub("inbox"), name: "long")
        let slow = DaemonFakeRunner(.loopUntilCancelled)
        let daemon = Daemon(config: config(dir, once: false), runner: slow, logger: daemonQuietLogger())
        let bg = DaemonBackground(daemon)
        #expect(daemonWaitUntil(timeout: 20) { slow.started.count == 1 })
        let begin = Date()
        daemon.requestStop(reason: "SIGTERM")
        #expect(daemonWaitUntil(timeout: 10) { bg.done })
        #expect(Date().timeIntervalSince(begin) < 10)
        #expect(slow.checkpointed == 1)
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        let pending = try #require(queue.jobs(.pending).first)
        #expect(pending.history.last?.note?.contains("interrupted") == true)
        // The inputs stay in the inbox until the job really ends.
        for name in hashes.keys { #expect(FileOps.exists(dir.sub("inbox/" + name))) }

        // Restart: the interrupted job resumes (no second job is created for the same drop).
        let resume = DaemonFakeRunner(.succeed)
        try Daemon(config: config(dir, once: true), runner: resume, logger: daemonQuietLogger()).run()
        #expect(resume.started == [pending.id])
        let done = try queue.read(pending.id, .done)
        #expect(done.attempts == 2)
        #expect(queue.ids(.done) == [pending.id] && queue.ids(.pending).isEmpty)
        let folder = try #require(daemonOutcomeFolders(dir.sub("inbox"), ".processed").first)
        for (name, hash) in hashes { #expect(daemonFileHash(folder + "/" + name) == hash) }
    }

    @Test func jobStillStoppingWhenTheGracePeriodEndsIsNotCountedAsACrash() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        daemonWriteDrop(inbox: dir.sub("inbox"), name: "slow")
        let slow = DaemonFakeRunner(.stopSlowly)
        defer { slow.release() }
        var c = config(dir, once: false)
        c.stopGrace = 0.2      // stands in for the 8 s a real checkpoint may exceed
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        // More slow stops than `maxRecoveries`: each one used to count as a crash, the fourth failed the job.
        for round in 1...(queue.maxRecoveries + 1) {
            let daemon = Daemon(config: c, runner: slow, logger: daemonQuietLogger())
            let bg = DaemonBackground(daemon)
            #expect(daemonWaitUntil(timeout: 20) { slow.started.count == round }, "round \(round)")
            daemon.requestStop(reason: "SIGTERM")
            #expect(daemonWaitUntil(timeout: 10) { bg.done })
            let left = try #require(queue.jobs(.running).first, "round \(round)")
            #expect(left.interruptedByShutdown == true && left.recoveries == 0)
            #expect(left.history.last?.note?.contains("SIGTERM") == true)
        }
        #expect(Set(slow.started).count == 1)

        let finish = DaemonFakeRunner(.succeed)
        try Daemon(config: config(dir, once: true), runner: finish, logger: daemonQuietLogger()).run()
        #expect(queue.ids(.failed).isEmpty)
        let done = try #require(queue.jobs(.done).first)
        #expect(done.recoveries == 0 && done.interruptedByShutdown == nil)
        #expect(done.attempts == queue.maxRecoveries + 2)
        #expect(done.history.contains { $0.note?.contains("not counted as a crash") == true })

        // A job left in running/ without the mark (the daemon died) still counts as a crash.
        let crashed = try enqueueAndClaim(queue, inbox: dir.sub("inbox"), name: "crashed")
        #expect(crashed.interruptedByShutdown == nil)
        #expect(try queue.recover().first { $0.id == crashed.id }?.recoveries == 1)
    }

    @Test func jobsFlagRunsDatasetsInParallelButNeverOneDatasetTwice() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        daemonWriteDrop(inbox: dir.sub("inbox"), name: "p1", seed: 1)
        daemonWriteDrop(inbox: dir.sub("inbox"), name: "p2", seed: 2)
        var c = config(dir, once: true)
        c.jobs = 2
        let parallel = DaemonFakeRunner(.sleep(0.5))
        try Daemon(config: c, runner: parallel, logger: daemonQuietLogger()).run()
        #expect(parallel.started.count == 2 && parallel.maxActive == 2)

        // Two drops of the same dataset (two manifests naming one dataset) run one after the other.
        let dir2 = DaemonTempDir()
        defer { dir2.cleanup() }
        daemonWriteDrop(inbox: dir2.sub("inbox"), name: "same", seed: 3)
        _ = FileManager.default.createFile(atPath: dir2.sub("inbox/same-again.yaml"),
                                           contents: Data(daemonManifestText(name: "same", archive: "same.tar.gz").utf8))
        daemonBackdate([dir2.sub("inbox/same-again.yaml")], by: 60)
        var c2 = config(dir2, once: true)
        c2.jobs = 2
        let serial = DaemonFakeRunner(.sleep(0.3))
        try Daemon(config: c2, runner: serial, logger: daemonQuietLogger()).run()
        #expect(serial.started.count == 2 && serial.maxActive == 1)
        // The shared archive went with the first job; the second job's copy lands in its own folder.
        let folders = daemonOutcomeFolders(dir2.sub("inbox"), ".processed")
        #expect(folders.count == 2 && folders.allSatisfy { FileOps.exists($0 + "/same.tar.gz") })
    }

    @Test func secondDaemonOnTheSameStoreIsRefused() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let store = URL(fileURLWithPath: dir.sub("store"))
        let first = try DaemonLock(store: store)
        #expect(DaemonLock.recordedPID(path: first.path) == getpid())
        do {
            _ = try DaemonLock(store: store)
            Issue.record("a second lock on the same store was granted")
        } catch let error as DaemonError {
            #expect(error.message.contains(first.path) && error.message.contains("pid \(getpid())"))
        }
        first.release()
        let again = try DaemonLock(store: store)
        again.release()
    }

    @Test func manifestOnlyDropReprocessesAKnownDataset() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        try FileOps.makeDirectory(dir.sub("store/datasets/known"))
        try FileOps.makeDirectory(dir.sub("inbox"))
        _ = FileManager.default.createFile(atPath: dir.sub("inbox/known.yaml"),
                                           contents: Data(daemonManifestText(name: "known", archive: "known.tar.gz").utf8))
        _ = FileManager.default.createFile(atPath: dir.sub("inbox/stray.yaml"), contents: Data("name: stray\n".utf8))
        daemonBackdate([dir.sub("inbox/known.yaml"), dir.sub("inbox/stray.yaml")], by: 60)
        let runner = DaemonFakeRunner(.succeed)
        try Daemon(config: config(dir, once: true), runner: runner, logger: daemonQuietLogger()).run()
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        let job = try #require(queue.jobs(.done).first)
        #expect(job.kind == .reprocess && job.dataset == "known" && job.archive == nil)
        #expect(FileOps.exists(try #require(job.outcome?.folder) + "/known.yaml"))
        // A manifest that fails validation (here: no archive, table, label…) is rejected, never run.
        let failed = try #require(daemonOutcomeFolders(dir.sub("inbox"), ".failed").first)
        #expect(failed.hasSuffix("-stray") && FileOps.exists(failed + "/error.json"))
        #expect(runner.started.count == 1)
    }
}

@Suite("Daemon reprocess")
struct DaemonReprocessTests {
    /// Adds version `version` of dataset `name` to a store and points `latest` at it. The run's manifest
    /// is embedded in run.json (as `Store.RunRecord` writes it) or, with `asFile`, a file beside it.
    private func makeRun(_ store: String, _ name: String, version: String = "v0001", status: String = "complete",
                         code: String = FairgenVersion.code, manifest: String = "x", asFile: Bool = false) throws {
        let folder = store + "/datasets/\(name)/\(version)"
        try FileOps.makeDirectory(folder)
        var run: [String: Any] = ["status": status, "code_version": code]
        if asFile {
            _ = FileManager.default.createFile(atPath: folder + "/manifest.yaml", contents: Data("name: \(manifest)\n".utf8))
            run["manifest"] = "manifest.yaml"
        } else {
            run["manifest"] = ["name": manifest, "pipeline": ["mix": ["alpha": [0.5, 1.0]]]]
        }
        _ = FileManager.default.createFile(atPath: folder + "/run.json", contents: try JSONSerialization.data(withJSONObject: run))
        unlink(store + "/datasets/\(name)/latest")
        #expect(symlink(version, store + "/datasets/\(name)/latest") == 0)
    }

    @Test func ifStaleQueuesOnlyChangedDatasets() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let store = dir.sub("store")
        try makeRun(store, "same")
        try makeRun(store, "samefile", asFile: true)
        try makeRun(store, "oldcode", code: "fairgen-0.0.1")
        // A newer run with another manifest failed: the latest complete run used a different manifest.
        try makeRun(store, "newmanifest", asFile: true)
        try makeRun(store, "newmanifest", version: "v0002", status: "failed", manifest: "y", asFile: true)
        try makeRun(store, "newembedded")
        try makeRun(store, "newembedded", version: "v0002", status: "interrupted", manifest: "z")
        try makeRun(store, "neverdone", status: "failed")
        try FileOps.makeDirectory(store + "/datasets/norun")
        let decisions = try Reprocess.enqueue(store: URL(fileURLWithPath: store), datasets: nil, ifStale: true)
        var queued: [String] = [], upToDate: [String] = [], rejected: [String: String] = [:]
        for d in decisions {
            switch d {
            case .queued(let job): queued.append(job.dataset)
            case .upToDate(let name, let version): upToDate.append(name); #expect(version == "v0001")
            case .rejected(let name, let message): rejected[name] = message
            case .alreadyQueued: Issue.record("nothing was queued before")
            }
        }
        #expect(Set(queued) == ["oldcode", "newmanifest", "newembedded", "neverdone"])
        #expect(Set(upToDate) == ["same", "samefile"])
        #expect(rejected["norun"]?.contains("latest") == true)
        // Each job carries the manifest of the latest run: embedded ones as NAME.json, files copied.
        let queue = try JobQueue(store: URL(fileURLWithPath: store))
        let embedded = try #require(queue.jobs(.pending).first { $0.dataset == "newembedded" })
        #expect(embedded.manifest == "newembedded.json" && embedded.kind == .reprocess && embedded.inputs.isEmpty)
        let written = try JSONSerialization.jsonObject(with: FileOps.read(queue.workDirectory(embedded.id) + "/newembedded.json"))
        #expect((written as? [String: Any])?["name"] as? String == "z")
        let copied = try #require(queue.jobs(.pending).first { $0.dataset == "newmanifest" })
        #expect(daemonFileHash(queue.workDirectory(copied.id) + "/manifest.yaml") == SHA256Digest.hex(Data("name: y\n".utf8)))
        // Queueing again while the first job waits does not pile up jobs (cron runs often).
        let again = try Reprocess.enqueue(store: URL(fileURLWithPath: store), datasets: ["oldcode"], ifStale: false)
        let oldcode = try #require(queue.jobs(.pending).first { $0.dataset == "oldcode" })
        #expect(again == [.alreadyQueued(dataset: "oldcode", job: oldcode.id)])
    }

    @Test func missingRunJSONIsAClearError() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let store = dir.sub("store")
        try FileOps.makeDirectory(store + "/datasets/empty/v0001")
        #expect(symlink("v0001", store + "/datasets/empty/latest") == 0)
        let out = try Reprocess.enqueue(store: URL(fileURLWithPath: store), datasets: ["empty", "ghost"], ifStale: false)
        guard case .rejected(_, let m1) = out[0], case .rejected(_, let m2) = out[1] else {
            Issue.record("expected two rejections, got \(out)"); return
        }
        #expect(m1.contains("datasets/empty/latest/run.json") || m1.contains("v0001/run.json"))
        #expect(m1.contains("not found"))
        #expect(m2.contains("ghost") && m2.contains("not found"))
    }
}
