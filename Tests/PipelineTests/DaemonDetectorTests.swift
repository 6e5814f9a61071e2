import Foundation
import Testing
@testable import Daemon
#if canImport(Glibc)
import Glibc
#endif

/// A snapshot with a manifest `m.yaml` naming `m.tar.gz`, both with the given identities.
private func snapshot(manifest: FileIdentity?, archive: FileIdentity?, keys: ManifestKeys? = nil) -> InboxSnapshot {
    var s = InboxSnapshot(files: [:], manifests: [:])
    if let manifest {
        s.files["m.yaml"] = manifest
        s.manifests["m.yaml"] = .success(keys ?? ManifestKeys(name: "m", archive: "m.tar.gz"))
    }
    if let archive { s.files["m.tar.gz"] = archive }
    return s
}

private func id(_ size: Int64, at t: Double, inode: UInt64 = 1) -> FileIdentity {
    FileIdentity(size: size, mtimeNs: Int64(t * 1e9), inode: inode, device: 1)
}

private func noDatasets(_ name: String) -> Bool { false }

@Suite("Daemon drop detection")
struct DaemonDetectorTests {
    @Test func dropCompletesOnlyAfterBothFilesSettled() {
        var d = DropDetector(settle: 2)
        let m = id(50, at: 100), a1 = id(1000, at: 100)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a1), now: 100, datasetExists: noDatasets).isEmpty)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a1), now: 101, datasetExists: noDatasets).isEmpty)
        // The archive grows at t = 101.5: its settle clock restarts.
        let a2 = id(2000, at: 101.5)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a2), now: 101.5, datasetExists: noDatasets).isEmpty)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a2), now: 103.4, datasetExists: noDatasets).isEmpty)
        let out = d.update(snapshot: snapshot(manifest: m, archive: a2), now: 103.5, datasetExists: noDatasets)
        #expect(out == [.ready(Drop(kind: .ingest, dataset: "m", manifest: "m.yaml", archive: "m.tar.gz",
                                    files: ["m.yaml": m, "m.tar.gz": a2]))])
        // Reported once only.
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a2), now: 110, datasetExists: noDatasets).isEmpty)
    }

    @Test func manifestAloneIsNotADropUntilItsArchiveArrives() {
        var d = DropDetector(settle: 2)
        let m = id(50, at: 0)
        let first = d.update(snapshot: snapshot(manifest: m, archive: nil), now: 10, datasetExists: noDatasets)
        #expect(first == [.waiting(manifest: "m.yaml", archive: "m.tar.gz")])
        #expect(d.update(snapshot: snapshot(manifest: m, archive: nil), now: 11, datasetExists: noDatasets).isEmpty)
        let a = id(9, at: 11)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a), now: 12, datasetExists: noDatasets).isEmpty)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a), now: 13.1, datasetExists: noDatasets).count == 1)
    }

    @Test func renamedInFilesNeedNoSettle() {
        var d = DropDetector(settle: 2)
        let m = id(50, at: 100), a = id(10, at: 100)
        d.observe([.init(name: "m.tar.gz", kind: .movedIn)])
        // Only the archive was renamed in: the manifest still settles.
        #expect(d.update(snapshot: snapshot(manifest: m, archive: a), now: 100, datasetExists: noDatasets).isEmpty)
        d.observe([.init(name: "m.yaml", kind: .movedIn)])
        let out = d.update(snapshot: snapshot(manifest: m, archive: a), now: 100.01, datasetExists: noDatasets)
        #expect(out.count == 1)
        // A closed write is not the rename convention.
        var e = DropDetector(settle: 2)
        e.observe([.init(name: "m.yaml", kind: .closedWrite), .init(name: "m.tar.gz", kind: .closedWrite)])
        #expect(e.update(snapshot: snapshot(manifest: m, archive: a), now: 100, datasetExists: noDatasets).isEmpty)
    }

    @Test func filesOlderThanTheSettlePeriodAreCompleteAtStartUp() {
        var d = DropDetector(settle: 2)
        let out = d.update(snapshot: snapshot(manifest: id(5, at: 10), archive: id(6, at: 20)), now: 1000,
                           datasetExists: noDatasets)
        #expect(out.count == 1)
        #expect(!d.hasUnsettled(now: 1000))
    }

    @Test func changedArchiveAfterQueueingIsANewDrop() {
        var d = DropDetector(settle: 2)
        let m = id(5, at: 0)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: id(6, at: 0)), now: 10, datasetExists: noDatasets).count == 1)
        let replaced = id(7, at: 20, inode: 2)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: replaced), now: 20, datasetExists: noDatasets).isEmpty)
        #expect(d.update(snapshot: snapshot(manifest: m, archive: replaced), now: 22, datasetExists: noDatasets).count == 1)
    }

    @Test func manifestWhoseArchiveIsAbsentReprocessesAKnownDataset() {
        var d = DropDetector(settle: 2)
        let out = d.update(snapshot: snapshot(manifest: id(5, at: 0), archive: nil), now: 10, datasetExists: { $0 == "m" })
        #expect(out == [.ready(Drop(kind: .reprocess, dataset: "m", manifest: "m.yaml", archive: nil,
                                    files: ["m.yaml": id(5, at: 0)]))])
        // Unknown dataset, archive not there yet: waiting, not rejected.
        var e = DropDetector(settle: 2)
        let out2 = e.update(snapshot: snapshot(manifest: id(5, at: 0), archive: nil), now: 10, datasetExists: noDatasets)
        #expect(out2 == [.waiting(manifest: "m.yaml", archive: "m.tar.gz")])
    }

    @Test func invalidManifestsAndArchivePathsAreRejected() throws {
        // The name and the archive key are checked by the manifest parser, with its message.
        let badName = daemonManifestText(name: "Bad_Name", archive: "m.tar.gz")
        #expect(throws: JobError.self) { try ManifestKeys.read(Data(badName.utf8), fileName: "m.yaml") }
        do { _ = try ManifestKeys.read(Data(badName.utf8), fileName: "m.yaml") } catch let e as JobError {
            #expect(e.stage == "inbox" && e.message.hasPrefix("m.yaml: name: found \"Bad_Name\""), "\(e.message)")
        }
        let noArchive = daemonManifestText(name: "m", archive: "m.tar.gz").replacingOccurrences(of: "archive: m.tar.gz   # beside me\n", with: "")
        do { _ = try ManifestKeys.read(Data(noArchive.utf8), fileName: "m.yaml"); Issue.record("no archive key accepted") } catch let e as JobError {
            #expect(e.message == "m.yaml: archive: found nothing (key missing), expected a value for required key \"archive\"")
        }
        var e = DropDetector(settle: 2)
        let escape = e.update(snapshot: snapshot(manifest: id(5, at: 0), archive: nil,
                                                 keys: ManifestKeys(name: "m", archive: ".hidden.tar.gz")),
                              now: 10, datasetExists: noDatasets)
        guard case .rejected(_, _, let e2)? = escape.first else { Issue.record("expected rejection, got \(escape)"); return }
        #expect(e2.message.contains("`archive`"))
    }

    @Test func manifestKeysAreReadFromYAMLAndJSON() throws {
        let yaml = daemonManifestText(name: "derm-demo", archive: "derm.tar.gz")
            .replacingOccurrences(of: "name: derm-demo", with: "name: \"derm-demo\"  # quoted")
        #expect(try ManifestKeys.read(Data(yaml.utf8), fileName: "x.yaml") == ManifestKeys(name: "derm-demo", archive: "derm.tar.gz"))
        let json = #"{"name": "a", "archive": "a.zip", "modality": "generic", "table": "t.csv", "image_column": "p", "label": {"kind": "single", "column": "y", "classes": ["u", "v"]}}"#
        #expect(try ManifestKeys.read(Data(json.utf8), fileName: "a.json") == ManifestKeys(name: "a", archive: "a.zip"))
        #expect(throws: JobError.self) { try ManifestKeys.read(Data("{nope".utf8), fileName: "a.json") }
        #expect(ManifestKeys.isManifestName("a.yaml") && ManifestKeys.isManifestName("A.JSON"))
        #expect(!ManifestKeys.isManifestName(".a.yaml") && !ManifestKeys.isManifestName("a.tar.gz"))
        #expect(ManifestKeys.isValidDatasetName("derm-demo") && !ManifestKeys.isValidDatasetName("-x")
                && !ManifestKeys.isValidDatasetName(String(repeating: "a", count: 65)))
    }

    @Test func snapshotSkipsDotFilesAndFolders() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        daemonWriteDrop(inbox: dir.path, name: "ok")
        _ = FileManager.default.createFile(atPath: dir.sub(".ok2.tar.gz.part"), contents: Data("x".utf8))
        try FileManager.default.createDirectory(atPath: dir.sub(".processed/x"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.sub("folder.yaml"), withIntermediateDirectories: true)
        let s = InboxSnapshot.scan(directory: dir.path)
        #expect(Set(s.files.keys) == ["ok.yaml", "ok.tar.gz"])
        #expect(s.manifests["ok.yaml"] == .success(ManifestKeys(name: "ok", archive: "ok.tar.gz")))
        // An unchanged manifest is not re-read; a changed one is.
        var cached = s
        cached.manifests["ok.yaml"] = .success(ManifestKeys(name: "cached", archive: "c.zip"))
        #expect(InboxSnapshot.scan(directory: dir.path, previous: cached).manifests["ok.yaml"]
                == .success(ManifestKeys(name: "cached", archive: "c.zip")))
        try Data(daemonManifestText(name: "ok", archive: "other.zip").utf8).write(to: URL(fileURLWithPath: dir.sub("ok.yaml")))
        #expect(InboxSnapshot.scan(directory: dir.path, previous: cached).manifests["ok.yaml"]
                == .success(ManifestKeys(name: "ok", archive: "other.zip")))
        // Oversized "manifests" are rejected unread.
        try Data(count: Int(InboxSnapshot.maxManifestBytes) + 1).write(to: URL(fileURLWithPath: dir.sub("big.json")))
        guard case .failure(let error)? = InboxSnapshot.scan(directory: dir.path).manifests["big.json"] else {
            Issue.record("an oversized manifest was accepted"); return
        }
        #expect(error.message.contains("big.json") && error.message.contains("64 KiB"))
    }

    @Test func durationsAndDigests() {
        #expect(DaemonConfig.parseSeconds("2s") == 2 && DaemonConfig.parseSeconds("500ms") == 0.5)
        #expect(DaemonConfig.parseSeconds("2") == 2 && DaemonConfig.parseSeconds("1.5s") == 1.5)
        #expect(DaemonConfig.parseSeconds("x") == nil && DaemonConfig.parseSeconds("-1s") == nil)
        #expect(SHA256Digest.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Digest.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Digest.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256Digest.hex(Data(repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite("Daemon inotify watcher")
struct DaemonWatcherTests {
    @Test func renamedInFileIsReportedWithinOneSecond() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        let watcher = try InboxWatcher(directory: inbox)
        // Written under a dot-name (ignored), then renamed into place: the atomic-rename convention.
        _ = FileManager.default.createFile(atPath: inbox + "/.d.tar.gz.part", contents: daemonFakeBytes(count: 100, seed: 3))
        let begin = Date()
        #expect(rename(inbox + "/.d.tar.gz.part", inbox + "/d.tar.gz") == 0)
        var events: [InboxWatcher.Event] = []
        while events.isEmpty && Date().timeIntervalSince(begin) < 1 {
            events += watcher.wait(timeout: 1)
        }
        let elapsed = Date().timeIntervalSince(begin)
        #expect(events.contains(.init(name: "d.tar.gz", kind: .movedIn)))
        #expect(elapsed < 1, "inotify took \(elapsed) s")
        #expect(!events.contains { $0.name.hasPrefix(".") })

        // Written in place (not atomically): created, then closed after writing.
        try Data("name: d\n".utf8).write(to: URL(fileURLWithPath: inbox + "/m.yaml"))
        var more: [InboxWatcher.Event] = []
        _ = daemonWaitUntil(timeout: 5) { more += watcher.wait(timeout: 0.2); return more.contains { $0.kind == .closedWrite } }
        #expect(more.contains(.init(name: "m.yaml", kind: .closedWrite)))
        #expect(more.contains(.init(name: "m.yaml", kind: .created)))
    }

    @Test func wakeDescriptorInterruptsTheWait() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let watcher = try InboxWatcher(directory: dir.path)
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        var byte: UInt8 = 1
        _ = write(fds[1], &byte, 1)
        let begin = Date()
        #expect(watcher.wait(timeout: 30, wakeFD: fds[0]).isEmpty)
        #expect(Date().timeIntervalSince(begin) < 5)
    }
}
