import Foundation
import Testing
@testable import Daemon
#if canImport(Glibc)
import Glibc
#endif

/// A daemon configuration on `dir/inbox` and `dir/<store>`, with short settle and poll times.
private func config(_ dir: DaemonTempDir, store: String = "store", once: Bool) -> DaemonConfig {
    var c = DaemonConfig(inbox: URL(fileURLWithPath: dir.sub("inbox")), store: URL(fileURLWithPath: dir.sub(store)))
    c.once = once
    c.settle = 0.3
    c.pollInterval = 0.05
    return c
}

/// The PID of a process that has exited (and been reaped): a dead claim owner.
private func deadPID() throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    try process.run()
    process.waitUntilExit()
    return process.processIdentifier
}

/// The identities of a drop's two files as the daemon records them.
private func dropFiles(_ inbox: String, _ name: String) -> [String: FileIdentity] {
    var files: [String: FileIdentity] = [:]
    for file in ["\(name).yaml", "\(name).tar.gz"] { files[file] = FileOps.identity(inbox + "/" + file) }
    return files
}

/// Writes a claim on drop `name` as another daemon would.
private func writeForeignClaim(inbox: String, name: String, store: String, pid: Int32, host: String = InboxClaims.hostName) throws {
    let claim = InboxClaims.Claim(manifest: "\(name).yaml", files: dropFiles(inbox, name), store: store, pid: pid,
                                  host: host, time: FileOps.isoUTC(Date()))
    try FileOps.makeDirectory(inbox + "/" + InboxClaims.folder)
    try FileOps.writeAtomically(try JobQueue.encoder.encode(claim), to: InboxClaims.path(inbox: inbox, manifest: "\(name).yaml"))
}

/// The `.claim` files left in an inbox.
private func claimFiles(_ inbox: String) -> [String] {
    FileOps.list(inbox + "/" + InboxClaims.folder).filter { $0.hasSuffix(".claim") }
}

@Suite("Daemon inbox claims")
struct DaemonClaimTests {
    @Test func twoDaemonsWithDifferentStoresOnOneInboxProcessADropOnce() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let hashes = daemonWriteDrop(inbox: dir.sub("inbox"), name: "shared")
        let first = DaemonFakeRunner(.sleep(0.3)), second = DaemonFakeRunner(.sleep(0.3))
        let a = DaemonBackground(Daemon(config: config(dir, store: "store-a", once: true), runner: first, logger: daemonQuietLogger()))
        let b = DaemonBackground(Daemon(config: config(dir, store: "store-b", once: true), runner: second, logger: daemonQuietLogger()))
        #expect(daemonWaitUntil(timeout: 30) { a.done && b.done })
        #expect(a.error == nil && b.error == nil)

        #expect(first.started.count + second.started.count == 1)
        let processed = daemonOutcomeFolders(dir.sub("inbox"), Outcomes.processedFolder)
        #expect(processed.count == 1)
        let folder = try #require(processed.first)
        for (name, hash) in hashes { #expect(daemonFileHash(folder + "/" + name) == hash) }
        let queues = try ["store-a", "store-b"].map { try JobQueue(store: URL(fileURLWithPath: dir.sub($0))) }
        #expect(queues.map { $0.ids(.done).count }.reduce(0, +) == 1)
        #expect(queues.allSatisfy { $0.ids(.pending).isEmpty && $0.ids(.running).isEmpty && $0.ids(.failed).isEmpty })
        // The winner released its claim once the files had moved.
        #expect(claimFiles(dir.sub("inbox")).isEmpty)
    }

    @Test func liveClaimIsRespectedAndAClaimOfADeadDaemonIsTakenOver() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        daemonWriteDrop(inbox: inbox, name: "held")
        // Held by a running daemon of another store (this very process stands in for it).
        try writeForeignClaim(inbox: inbox, name: "held", store: dir.sub("other-store"), pid: getpid())
        let runner = DaemonFakeRunner(.succeed)
        try Daemon(config: config(dir, once: true), runner: runner, logger: daemonQuietLogger()).run()
        #expect(runner.started.isEmpty)
        #expect(FileOps.exists(inbox + "/held.yaml") && FileOps.exists(inbox + "/held.tar.gz"))
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        #expect(Job.State.allCases.allSatisfy { queue.ids($0).isEmpty })

        // Its owner died without finishing: the next daemon takes the drop over.
        try writeForeignClaim(inbox: inbox, name: "held", store: dir.sub("other-store"), pid: try deadPID())
        try Daemon(config: config(dir, once: true), runner: runner, logger: daemonQuietLogger()).run()
        #expect(runner.started.count == 1)
        #expect(daemonOutcomeFolders(inbox, Outcomes.processedFolder).count == 1)
        #expect(claimFiles(inbox).isEmpty)
    }

    @Test func claimRulesForOtherHostsAndLeftovers() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        daemonWriteDrop(inbox: inbox, name: "d")
        let files = dropFiles(inbox, "d")
        let me = InboxClaims.Owner(store: dir.sub("mine"))
        let path = InboxClaims.path(inbox: inbox, manifest: "d.yaml")

        // Another host's claim binds while its owner refreshes it, and goes stale when it stops.
        try writeForeignClaim(inbox: inbox, name: "d", store: "/srv/other", pid: 1, host: "other-host.invalid")
        guard case .heldBy(let holder) = try InboxClaims.claim(inbox: inbox, manifest: "d.yaml", files: files, owner: me) else {
            Issue.record("a fresh claim of another host was not respected"); return
        }
        #expect(holder.store == "/srv/other")
        var times = [timespec(tv_sec: time(nil) - Int(InboxClaims.foreignHostTTL) - 10, tv_nsec: 0)]
        times.append(times[0])
        #expect(utimensat(AT_FDCWD, path, times, 0) == 0)
        guard case .claimed(let stale) = try InboxClaims.claim(inbox: inbox, manifest: "d.yaml", files: files, owner: me) else {
            Issue.record("a stale claim of another host was not taken over"); return
        }
        #expect(stale?.host == "other-host.invalid")
        #expect(InboxClaims.read(inbox: inbox, manifest: "d.yaml")?.store == me.store)

        // Ours across a restart (same store, new PID); released only by its owner.
        let restarted = InboxClaims.Owner(store: dir.sub("mine"), pid: try deadPID())
        #expect(try InboxClaims.claim(inbox: inbox, manifest: "d.yaml", files: files, owner: restarted) == .claimed(tookOver: nil))
        try InboxClaims.release(inbox: inbox, manifest: "d.yaml", owner: InboxClaims.Owner(store: "/srv/other"))
        #expect(FileOps.exists(path))
        try InboxClaims.release(inbox: inbox, manifest: "d.yaml", owner: me)
        #expect(!FileOps.exists(path))

        // A live owner's claim on files no longer in the inbox (a leftover) does not bind.
        try writeForeignClaim(inbox: inbox, name: "d", store: "/srv/other", pid: getpid())
        try FileOps.move(inbox + "/d.yaml", to: dir.sub("d.yaml"))
        try FileOps.move(inbox + "/d.tar.gz", to: dir.sub("d.tar.gz"))
        let leftover = try #require(InboxClaims.read(inbox: inbox, manifest: "d.yaml"))
        #expect(!InboxClaims.isLive(leftover, inbox: inbox))
    }

    @Test func pendingJobWhoseDropWasTakenOverIsNotRunAgain() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        let hashes = daemonWriteDrop(inbox: inbox, name: "moved")
        // This store queued the drop, then its daemon stopped; another daemon took the claim over.
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        let files = dropFiles(inbox, "moved")
        let job = try queue.enqueue(kind: .ingest, dataset: "moved", manifestSource: inbox + "/moved.yaml",
                                    archiveSource: inbox + "/moved.tar.gz", inbox: inbox,
                                    inputs: files.keys.sorted().map { Job.Input(name: $0, identity: files[$0]!) }, note: "test")
        try writeForeignClaim(inbox: inbox, name: "moved", store: dir.sub("other-store"), pid: getpid())

        let runner = DaemonFakeRunner(.succeed)
        try Daemon(config: config(dir, once: true), runner: runner, logger: daemonQuietLogger()).run()
        #expect(runner.started.isEmpty)
        let abandoned = try queue.read(job.id, .failed)
        #expect(abandoned.error?.message.contains(dir.sub("other-store")) == true)
        #expect(abandoned.outcome == Job.Outcome(folder: nil, complete: true))
        #expect(!FileOps.exists(queue.workDirectory(job.id)))
        // The drop's files are the other daemon's: untouched.
        for (name, hash) in hashes { #expect(daemonFileHash(inbox + "/" + name) == hash) }
        #expect(daemonOutcomeFolders(inbox, Outcomes.failedFolder).isEmpty)
    }
}

@Suite("Daemon retry backoff")
struct DaemonRetryTests {
    @Test func waitsDoubleUpToTheCapAndEachIsHandedOutOnce() {
        var retry = RetryBackoff(base: 1, cap: 10)
        #expect((1...6).map { retry.delay(afterFailures: $0) } == [1, 2, 4, 8, 10, 10])
        let first = retry.failed("m", now: 100)
        #expect(first.failures == 1 && first.delay == 1)
        #expect(retry.isWaiting("m", now: 100.5) && retry.due(now: 100.5).isEmpty)
        #expect(retry.due(now: 101) == ["m"])
        #expect(retry.due(now: 150).isEmpty)           // not again until it fails again
        let second = retry.failed("m", now: 101)
        #expect(second.failures == 2 && second.delay == 2)
        #expect(retry.due(now: 102.9).isEmpty && retry.due(now: 103) == ["m"])
        retry.succeeded("m")
        #expect(retry.failures("m") == 0)
        #expect(retry.failed("m", now: 200).delay == 1)
        retry.retain { $0 != "m" }
        #expect(!retry.isWaiting("m", now: 200))
    }

    @Test func dropThatCannotBeQueuedIsRetriedWithGrowingCappedWaits() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let clock = DaemonFakeClock()
        var c = config(dir, once: false)
        c.retryBase = 1
        c.retryCap = 4
        c.clock = { clock.now }
        let log = DaemonLogCapture()
        let daemon = Daemon(config: c, runner: DaemonFakeRunner(.succeed), logger: log.logger)
        let bg = DaemonBackground(daemon)
        defer {
            daemon.requestStop(reason: "test")
            _ = daemonWaitUntil(timeout: 10) { bg.done }
        }
        let store = URL(fileURLWithPath: dir.sub("store"))
        #expect(daemonWaitUntil(timeout: 20) { FileOps.exists(DaemonLock.path(store: store)) })
        // A file where the queue's work folder belongs: every attempt to queue fails.
        let work = dir.sub("store/queue/work")
        #expect(daemonWaitUntil(timeout: 20) { FileOps.isDirectory(work) })
        #expect(rmdir(work) == 0)
        _ = FileManager.default.createFile(atPath: work, contents: Data())
        // Renamed in, complete at once: the settle period would need the fake clock to move.
        daemonWriteDrop(inbox: dir.sub("staging"), name: "stuck")
        for file in ["stuck.tar.gz", "stuck.yaml"] { #expect(rename(dir.sub("staging/" + file), dir.sub("inbox/" + file)) == 0) }

        func attempts() -> [String] { log.lines(containing: "drop stuck.yaml not queued") }
        #expect(daemonWaitUntil(timeout: 20) { attempts().count == 1 })
        usleep(400_000)     // many scans at the same instant: no retry before the wait is over
        #expect(attempts().count == 1)
        #expect(attempts().last?.contains("attempt 1") == true && attempts().last?.contains("retrying in 1 s") == true)
        // Waits before attempts 2…5: 1, 2, 4 s, then capped at 4 s; each attempt logs one line.
        for (attempt, wait, next) in [(2, 1.0, 2), (3, 2.0, 4), (4, 4.0, 4), (5, 4.0, 4)] {
            clock.advance(wait - 0.05)
            usleep(250_000)
            #expect(attempts().count == attempt - 1, "attempt \(attempt) came before its wait of \(wait) s")
            clock.advance(0.05)
            #expect(daemonWaitUntil(timeout: 20) { attempts().count == attempt })
            let line = attempts().last ?? ""
            #expect(line.contains("attempt \(attempt)") && line.contains("retrying in \(next) s"), "\(line)")
            #expect(line.contains(work + ": it exists and is not a folder"), "\(line)")
        }

        // Once the store is fixed, the next attempt queues the drop.
        #expect(unlink(work) == 0 && mkdir(work, 0o755) == 0)
        clock.advance(4)
        #expect(daemonWaitUntil(timeout: 20) { daemonOutcomeFolders(dir.sub("inbox"), Outcomes.processedFolder).count == 1 })
        #expect(attempts().count == 5)
    }
}
