import Foundation
import Testing
@testable import Daemon
#if canImport(Glibc)
import Glibc
#endif

/// Queues the drop `name` found in `inbox` as the daemon would.
private func enqueueDrop(_ queue: JobQueue, inbox: String, name: String) throws -> Job {
    let files = ["\(name).tar.gz", "\(name).yaml"]
    let inputs = files.map { Job.Input(name: $0, identity: FileOps.identity(inbox + "/" + $0)!) }
    return try queue.enqueue(kind: .ingest, dataset: name, manifestSource: inbox + "/\(name).yaml",
                             archiveSource: inbox + "/\(name).tar.gz", inbox: inbox, inputs: inputs, note: "test")
}

/// The states whose folder holds the job.
private func folders(_ queue: JobQueue, _ id: String) -> [Job.State] {
    Job.State.allCases.filter { FileOps.exists(queue.folder($0) + "/\(id).json") }
}

@Suite("Daemon job queue")
struct DaemonQueueTests {
    @Test func transitionsMoveTheJobBetweenFolders() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        let hashes = daemonWriteDrop(inbox: inbox, name: "alpha")
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        let job = try enqueueDrop(queue, inbox: inbox, name: "alpha")
        #expect(folders(queue, job.id) == [.pending])
        // The work folder holds byte-identical copies; the inbox still holds the originals.
        for (name, hash) in hashes {
            #expect(daemonFileHash(queue.workDirectory(job.id) + "/" + name) == hash)
            #expect(daemonFileHash(inbox + "/" + name) == hash)
        }
        let claimed = try #require(try queue.claimNext())
        #expect(claimed.id == job.id && claimed.attempts == 1)
        #expect(folders(queue, job.id) == [.running])
        #expect(try queue.claimNext() == nil)
        let done = try queue.finish(claimed, summary: "ok")
        #expect(folders(queue, job.id) == [.done])
        #expect(try queue.read(job.id, .done) == done)
        #expect(done.history.map(\.state) == [.pending, .running, .done])
    }

    @Test func claimSkipsBusyDatasetsAndIsExclusiveAcrossQueues() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        daemonWriteDrop(inbox: inbox, name: "a", seed: 1)
        daemonWriteDrop(inbox: inbox, name: "b", seed: 2)
        let store = URL(fileURLWithPath: dir.sub("store"))
        let q1 = try JobQueue(store: store), q2 = try JobQueue(store: store)
        let ja = try enqueueDrop(q1, inbox: inbox, name: "a")
        usleep(1000)
        let jb = try enqueueDrop(q1, inbox: inbox, name: "b")
        #expect(try q1.claimNext(excluding: ["a"])?.id == jb.id)
        // Two queue objects (two processes) race for the same job: exactly one wins.
        let first = try q1.claim(id: ja.id), second = try q2.claim(id: ja.id)
        #expect(first != nil && second == nil)
    }

    @Test func jobLeftRunningByACrashIsRecovered() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        daemonWriteDrop(inbox: inbox, name: "crash")
        let store = URL(fileURLWithPath: dir.sub("store"))
        var queue: JobQueue? = try JobQueue(store: store)
        let job = try enqueueDrop(queue!, inbox: inbox, name: "crash")
        _ = try queue!.claimNext()
        // A temp file of a write interrupted by kill -9 and an orphaned, hour-old work folder.
        _ = FileManager.default.createFile(atPath: queue!.folder(.running) + "/.tmp-\(job.id).json-1-x", contents: Data("{".utf8))
        let orphan = queue!.workDirectory("orphan"), fresh = queue!.workDirectory("being-queued")
        try FileOps.makeDirectory(orphan)
        try FileOps.makeDirectory(fresh)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: orphan)
        queue = nil  // the daemon dies here

        let restarted = try JobQueue(store: store)
        #expect(restarted.ids(.running) == [job.id])  // temp files are never listed as jobs
        let moved = try restarted.recover()
        #expect(moved.map(\.id) == [job.id])
        #expect(folders(restarted, job.id) == [.pending])
        let recovered = try restarted.read(job.id, .pending)
        #expect(recovered.recoveries == 1 && recovered.attempts == 1)
        #expect(recovered.history.last?.note?.contains("recovered") == true)
        #expect(FileOps.list(restarted.folder(.running)).isEmpty)
        #expect(!FileOps.exists(orphan) && FileOps.exists(fresh))
        #expect(FileOps.exists(restarted.workDirectory(job.id)))
        let again = try #require(try restarted.claimNext())
        #expect(again.attempts == 2)
    }

    @Test func crashBetweenCommitAndCleanupKeepsTheLaterState() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        daemonWriteDrop(inbox: inbox, name: "twice")
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        let job = try enqueueDrop(queue, inbox: inbox, name: "twice")
        var running = try #require(try queue.claimNext())
        // The failed copy (with its error) was written, then the daemon died before removing running/.
        running.error = JobError(stage: "ingest", message: "m")
        running.record(.failed, note: "m")
        try queue.write(running, .failed)
        #expect(folders(queue, job.id) == [.running, .failed])
        #expect(try queue.recover().isEmpty)
        #expect(folders(queue, job.id) == [.failed])
        #expect(try queue.read(job.id, .failed).error?.message == "m")
    }

    @Test func repeatedCrashesFailTheJob() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        daemonWriteDrop(inbox: inbox, name: "poison")
        let store = URL(fileURLWithPath: dir.sub("store"))
        let queue = try JobQueue(store: store)
        queue.maxRecoveries = 2
        let job = try enqueueDrop(queue, inbox: inbox, name: "poison")
        for _ in 0..<2 {
            _ = try queue.claimNext()
            _ = try queue.recover()
        }
        #expect(folders(queue, job.id) == [.pending])
        _ = try queue.claimNext()
        _ = try queue.recover()
        #expect(folders(queue, job.id) == [.failed])
        #expect(try queue.read(job.id, .failed).error?.stage == "daemon")
    }
}

@Suite("Daemon outcomes")
struct DaemonOutcomeTests {
    @Test func successMovesInputsToProcessedWithoutChangingThem() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        let hashes = daemonWriteDrop(inbox: inbox, name: "good")
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        let job = try enqueueDrop(queue, inbox: inbox, name: "good")
        let finished = try Outcomes.complete(try queue.finish(try queue.claimNext()!, summary: "v1"), in: .done, queue: queue)
        let folder = try #require(finished.outcome?.folder)
        #expect(finished.outcome?.complete == true)
        #expect(folder.hasPrefix(inbox + "/.processed/") && folder.hasSuffix("-good"))
        for (name, hash) in hashes {
            #expect(daemonFileHash(folder + "/" + name) == hash)
            #expect(!FileOps.exists(inbox + "/" + name))
        }
        #expect(!FileOps.exists(folder + "/error.json"))
        #expect(!FileOps.exists(queue.workDirectory(job.id)))
        #expect(try queue.read(job.id, .done).outcome?.complete == true)
    }

    @Test func failureWritesErrorJSONAndKeepsReplacedFiles() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        let hashes = daemonWriteDrop(inbox: inbox, name: "bad")
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        _ = try enqueueDrop(queue, inbox: inbox, name: "bad")
        // While the job runs the user replaces the archive (new file renamed over the old one).
        let replacement = daemonFakeBytes(count: 777, seed: 99)
        _ = FileManager.default.createFile(atPath: inbox + "/.new", contents: replacement)
        #expect(rename(inbox + "/.new", inbox + "/bad.tar.gz") == 0)
        let error = JobError(stage: "ingest", message: "bad.yaml: field `table`: expected a CSV", hint: "fix it")
        let failed = try Outcomes.complete(try queue.fail(try queue.claimNext()!, error: error), in: .failed, queue: queue)
        let folder = try #require(failed.outcome?.folder)
        #expect(folder.hasPrefix(inbox + "/.failed/"))
        // The job's own copy of the archive lands in .failed; the user's new archive stays in the inbox.
        for (name, hash) in hashes { #expect(daemonFileHash(folder + "/" + name) == hash) }
        #expect(daemonFileHash(inbox + "/bad.tar.gz") == SHA256Digest.hex(replacement))
        let file = try JSONDecoder().decode(Outcomes.ErrorFile.self, from: try FileOps.read(folder + "/error.json"))
        #expect(file.stage == "ingest" && file.message == error.message && file.hint == "fix it" && file.job == failed.id)
        #expect(!file.time.isEmpty)
    }

    @Test func interruptedOutcomeIsFinishedOnRetry() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        let hashes = daemonWriteDrop(inbox: inbox, name: "half")
        let queue = try JobQueue(store: URL(fileURLWithPath: dir.sub("store")))
        _ = try enqueueDrop(queue, inbox: inbox, name: "half")
        var done = try queue.finish(try queue.claimNext()!, summary: "v1")
        // Simulate a crash after the outcome folder was chosen and one file moved.
        let folder = inbox + "/.processed/20260101T000000Z-half"
        done.outcome = Job.Outcome(folder: folder, complete: false)
        try queue.write(done, .done)
        try FileOps.makeDirectory(folder)
        try FileOps.move(inbox + "/half.yaml", to: folder + "/half.yaml")
        let completed = try Outcomes.complete(try queue.read(done.id, .done), in: .done, queue: queue)
        #expect(completed.outcome == Job.Outcome(folder: folder, complete: true))
        #expect(Set(FileOps.list(folder)) == Set(hashes.keys))
        for (name, hash) in hashes { #expect(daemonFileHash(folder + "/" + name) == hash) }
        #expect(daemonOutcomeFolders(inbox, ".processed") == [folder])
    }

    @Test func rejectedManifestGoesToFailed() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        _ = FileManager.default.createFile(atPath: dir.sub("x.yaml"), contents: Data("name: x\n".utf8))
        let folder = try Outcomes.reject(manifest: "x.yaml", inbox: dir.path,
                                         error: JobError(stage: "inbox", message: "x.yaml: no archive"))
        #expect(daemonFileHash(folder + "/x.yaml") == SHA256Digest.hex(Data("name: x\n".utf8)))
        #expect(FileOps.exists(folder + "/error.json") && !FileOps.exists(dir.sub("x.yaml")))
    }
}
