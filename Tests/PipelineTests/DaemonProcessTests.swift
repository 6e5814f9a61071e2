import Foundation
import Testing
@testable import Daemon
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end tests of the `fairgen watch` executable (signals, locks, exit codes), run as a subprocess.
/// The drops here are not valid datasets (random archive bytes behind a valid manifest), so the real
/// runner rejects them at ingest; the full chain is exercised in ChainEndToEndTests.
@Suite("Daemon executable")
struct DaemonProcessTests {
    @Test func watchOnceMovesADropToFailedWithTheReasonAndExitsZero() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let hashes = daemonWriteDrop(inbox: dir.sub("inbox"), name: "demo")
        let p = try DaemonFairgenProcess(["watch", "--once", "--settle", "500ms"], in: dir, tag: "once")
        #expect(p.wait(timeout: 60) == 0, "stderr: \(p.stderr)")
        let failed = try #require(daemonOutcomeFolders(dir.sub("inbox"), ".failed").first, "stderr: \(p.stderr)")
        for (name, hash) in hashes { #expect(daemonFileHash(failed + "/" + name) == hash) }
        let error = try JSONDecoder().decode(Outcomes.ErrorFile.self, from: try FileOps.read(failed + "/error.json"))
        #expect(error.stage == "ingest" && error.message.contains("demo.tar.gz"), "\(error)")
        #expect(FileOps.list(dir.sub("store/queue/failed")).count == 1)
        #expect(p.stderr.contains("start") && p.stderr.contains("failed"))
    }

    @Test func secondDaemonExitsOneNamingTheLockAndPID() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let lockPath = dir.sub("store/locks/daemon.lock")
        let first = try DaemonFairgenProcess(["watch", "--inbox", "in", "--store", "store"], in: dir, tag: "first")
        let pid = first.process.processIdentifier
        #expect(daemonWaitUntil(timeout: 30) { DaemonLock.recordedPID(path: lockPath) == pid }, "stderr: \(first.stderr)")
        let second = try DaemonFairgenProcess(["watch", "--once", "--inbox", "in2", "--store", "store"], in: dir, tag: "second")
        #expect(second.wait(timeout: 30) == 1)
        #expect(second.stderr.contains(lockPath) && second.stderr.contains("pid \(pid)"), "stderr: \(second.stderr)")
        kill(pid, SIGTERM)
        #expect(first.wait(timeout: 10) == 0)
    }

    @Test func emptyInboxAndStoreVariablesMeanTheDefaultFolders() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        // An unrelated manifest-like file in the working directory: a daemon that took the empty
        // FAIRGEN_INBOX for the working directory would reject it into ./.failed/.
        _ = FileManager.default.createFile(atPath: dir.sub("notes.yaml"), contents: Data("name: notes\n".utf8))
        daemonBackdate([dir.sub("notes.yaml")], by: 60)
        let p = try DaemonFairgenProcess(["watch", "--once", "--settle", "200ms"], in: dir, tag: "empty",
                                         env: ["FAIRGEN_INBOX": "", "FAIRGEN_STORE": ""])
        #expect(p.wait(timeout: 60) == 0, "stderr: \(p.stderr)")
        #expect(FileOps.exists(dir.sub("notes.yaml")))
        #expect(!FileOps.exists(dir.sub(Outcomes.failedFolder)) && !FileOps.exists(dir.sub("queue")))
        #expect(FileOps.isDirectory(dir.sub("inbox")) && FileOps.isDirectory(dir.sub("store/queue/pending")))

        // An explicitly empty flag is a usage error, not the working directory either.
        let flag = try DaemonFairgenProcess(["watch", "--once", "--inbox", ""], in: dir, tag: "flag")
        #expect(flag.wait(timeout: 60) == 2, "stderr: \(flag.stderr)")
        #expect(flag.stderr.contains("--inbox is empty"))
    }

    @Test func sigtermStopsTheDaemonWithExitZeroWithinTenSeconds() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let p = try DaemonFairgenProcess(["watch", "--settle", "200ms"], in: dir, tag: "term")
        let pid = p.process.processIdentifier
        #expect(daemonWaitUntil(timeout: 30) { DaemonLock.recordedPID(path: dir.sub("store/locks/daemon.lock")) == pid })
        // A drop renamed in while the daemon runs is picked up (and fails: the manifest is incomplete).
        _ = FileManager.default.createFile(atPath: dir.sub("inbox/.live.tmp"), contents: daemonFakeBytes(count: 300, seed: 8))
        _ = FileManager.default.createFile(atPath: dir.sub("inbox/.live.yaml.tmp"), contents: Data("name: live\narchive: live.zip\n".utf8))
        #expect(rename(dir.sub("inbox/.live.tmp"), dir.sub("inbox/live.zip")) == 0)
        #expect(rename(dir.sub("inbox/.live.yaml.tmp"), dir.sub("inbox/live.yaml")) == 0)
        #expect(daemonWaitUntil(timeout: 30) { daemonOutcomeFolders(dir.sub("inbox"), ".failed").count == 1 }, "stderr: \(p.stderr)")
        let begin = Date()
        kill(pid, SIGTERM)
        let status = p.wait(timeout: 10)
        #expect(status == 0, "stderr: \(p.stderr)")
        #expect(Date().timeIntervalSince(begin) < 10)
        #expect(p.stderr.contains("SIGTERM"))
    }

    @Test func reprocessCommandQueuesRunsAndReportsEachDataset() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let version = dir.sub("store/datasets/derm/v0001")
        try FileOps.makeDirectory(version)
        let run: [String: Any] = ["status": "complete", "code_version": FairgenVersion.code,
                                  "manifest": ["name": "derm", "archive": "derm.tar.gz"]]
        _ = FileManager.default.createFile(atPath: version + "/run.json", contents: try JSONSerialization.data(withJSONObject: run))
        #expect(symlink("v0001", dir.sub("store/datasets/derm/latest")) == 0)

        let stale = try DaemonFairgenProcess(["reprocess", "--all", "--if-stale"], in: dir, tag: "stale")
        #expect(stale.wait(timeout: 30) == 0, "stderr: \(stale.stderr)")
        #expect((try? String(contentsOfFile: stale.stdoutPath, encoding: .utf8))?.contains("derm: up to date (v0001)") == true)

        // --foreground runs the job here; the store kept no archive for "derm", so it fails, and the exit status says so.
        let now = try DaemonFairgenProcess(["reprocess", "derm", "--foreground"], in: dir, tag: "fg")
        #expect(now.wait(timeout: 30) == 1, "stderr: \(now.stderr)")
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        let failed = try #require(queue.jobs(.failed).first)
        #expect(failed.dataset == "derm" && failed.error?.stage == "reprocess" && failed.error?.message.contains("no archive") == true,
                "\(String(describing: failed.error))")
        #expect(FileOps.list(queue.root + "/work").isEmpty)

        let missing = try DaemonFairgenProcess(["reprocess", "ghost"], in: dir, tag: "ghost")
        #expect(missing.wait(timeout: 30) == 1)
        #expect(missing.stderr.contains("ghost") && missing.stderr.contains("not found"), "stderr: \(missing.stderr)")
    }

    @Test func killNineAtRandomInstantsLosesNoDrop() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        var expected: [String: [String: String]] = [:]
        for i in 0..<12 {
            expected["k\(i)"] = daemonWriteDrop(inbox: dir.sub("inbox"), name: "k\(i)", seed: UInt64(10 + i))
        }
        // Processing these 12 drops takes ~150 ms here: kill the daemon at random instants of that
        // work (queueing, claiming, moving outcomes), several times, then let it finish.
        var rng = SystemRandomNumberGenerator()
        for round in 0..<6 {
            let p = try DaemonFairgenProcess(["watch", "--settle", "100ms"], in: dir, tag: "kill\(round)")
            usleep(UInt32.random(in: 5_000...150_000, using: &rng))
            kill(p.process.processIdentifier, SIGKILL)
            _ = p.wait(timeout: 10)
        }
        let last = try DaemonFairgenProcess(["watch", "--once", "--settle", "100ms"], in: dir, tag: "final")
        #expect(last.wait(timeout: 60) == 0, "stderr: \(last.stderr)")

        // Every drop ended in .failed exactly once, byte-identical; nothing is left in the inbox.
        let folders = daemonOutcomeFolders(dir.sub("inbox"), ".failed")
        #expect(folders.count == expected.count, "\(folders)")
        for (name, hashes) in expected {
            let mine = folders.filter { URL(fileURLWithPath: $0).lastPathComponent.hasSuffix("-" + name) }
            #expect(mine.count == 1, "\(name): \(mine)")
            if let folder = mine.first {
                for (file, hash) in hashes { #expect(daemonFileHash(folder + "/" + file) == hash, "\(folder)/\(file)") }
            }
        }
        #expect(FileOps.list(dir.sub("inbox")).filter { !$0.hasPrefix(".") }.isEmpty)
        // The queue is settled: nothing pending or running, no temp files, no work folders.
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        #expect(queue.ids(.pending).isEmpty && queue.ids(.running).isEmpty)
        for state in Job.State.allCases {
            #expect(!FileOps.list(queue.folder(state)).contains { $0.hasPrefix(FileOps.tempPrefix) })
        }
        #expect(FileOps.list(queue.root + "/work").isEmpty)
    }
}
