import Foundation
import Testing
@testable import Datasets

/// Reads `path` with `limits`, returning the error and the reader (for its byte counters).
func archiveError(_ path: String, limits: ArchiveLimits = ArchiveLimits()) -> (DatasetError?, ArchiveReader) {
    let reader = ArchiveReader(path: path, limits: limits)
    do { try reader.forEachEntry { _ in }; return (nil, reader) } catch let e as DatasetError { return (e, reader) } catch {
        return (nil, reader)
    }
}

/// Writes a one-off archive and returns its path.
func hostileArchive(_ kind: ArchiveKind = .tarGz, _ entries: [DropEntry]) -> String {
    let path = DropBuilder.tempDir() + "/hostile.\(kind.rawValue)"
    DropBuilder.writeArchive(path, kind: kind, entries: entries)
    return path
}

@Suite struct ArchiveReaderTests {
    @Test(arguments: [ArchiveKind.tar, .tarGz, .tarXz, .tarZst, .zip])
    func readsRegularFilesInEveryFormat(kind: ArchiveKind) throws {
        let path = hostileArchive(kind, [.directory("d"), .file("./d/x.txt", Array("hello".utf8)), .file("y", [1, 2, 3]),
                                         .file("empty", [])])
        var got: [String: [UInt8]] = [:]
        try ArchiveReader(path: path).forEachEntry { got[$0.name] = $0.bytes }
        #expect(got == ["d/x.txt": Array("hello".utf8), "y": [1, 2, 3], "empty": []])
    }

    @Test func keepFilterSkipsBytesButStillCountsThem() throws {
        let path = hostileArchive(.tarGz, [.file("a", [UInt8](repeating: 7, count: 1000)), .file("b", [1])])
        let reader = ArchiveReader(path: path)
        var names: [String] = []
        try reader.forEachEntry(keep: { $0 == "b" }) { names.append($0.name) }
        #expect(names == ["b"] && reader.totalBytesRead == 1001)
    }

    @Test(arguments: ["../evil.png", "img/../../evil.png", "a/..", ".."])
    func pathTraversalIsRejected(name: String) {
        let path = hostileArchive(.tar, [.file(name, [1])])
        let (e, _) = archiveError(path)
        #expect(e?.code == .pathTraversal)
        #expect(e?.description.hasPrefix("\(path): entry \"\(name)\": found a '..' path component") == true)
    }

    @Test(arguments: [(ArchiveKind.tar, "/etc/passwd"), (.zip, "/tmp/x.png"), (.tarGz, "C:/x.png")])
    func absolutePathsAreRejected(kind: ArchiveKind, name: String) {
        let path = hostileArchive(kind, [.file(name, [1])])
        let (e, _) = archiveError(path)
        #expect(e?.code == .absolutePath)
        #expect(e?.description.contains(path) == true && e?.description.contains("absolute path") == true
                || e?.description.contains("drive-letter") == true)
    }

    @Test func backslashAndControlCharacterNamesAreRejected() {
        for name in ["..\\evil.png", "a\u{01}b"] {
            let path = hostileArchive(.tar, [.file(name, [1])])
            let (e, _) = archiveError(path)
            #expect(e?.code == .badEntryName && e?.description.contains(path) == true)
        }
    }

    @Test func symlinksHardlinksDevicesAndFIFOsAreRejected() {
        let cases: [(DropEntry, DatasetError.Code, String)] = [
            (.symlink("link.png", target: "/etc/passwd"), .linkEntry, "a symbolic link"),
            (.hardlink("hard.png", target: "a.png"), .linkEntry, "a hard link"),
            (.charDevice("dev"), .specialEntry, "a character device"),
            (.fifo("fifo"), .specialEntry, "a FIFO"),
        ]
        for (entry, code, found) in cases {
            let path = hostileArchive(.tar, [.file("a.png", [1]), entry])
            let (e, _) = archiveError(path)
            #expect(e?.code == code)
            #expect(e?.description == "\(path): entry \"\(entry.name)\": found \(found), expected regular files and directories only"
                    + (code == .linkEntry ? " (links are not followed)" : ""))
        }
        // Symlinks inside a zip too.
        let zip = hostileArchive(.zip, [.symlink("z.png", target: "../../etc/passwd")])
        #expect(archiveError(zip).0?.code == .linkEntry)
    }

    @Test func duplicateNamesAreRejectedAfterNormalisation() {
        for names in [["a.png", "a.png"], ["img/a.png", "./img//a.png"]] {
            let path = hostileArchive(.tarGz, names.map { .file($0, [1]) })
            let (e, _) = archiveError(path)
            #expect(e?.code == .duplicateEntry)
            #expect(e?.description.contains("\(path): entry \"\(names[1])\": found a second entry named \"\(names[0])\"") == true)
        }
    }

    @Test func tooManyEntries() {
        let path = hostileArchive(.tarGz, (0..<20).map { .file("f\($0)", [1]) })
        let (e, reader) = archiveError(path, limits: ArchiveLimits(maxEntries: 5))
        #expect(e?.code == .tooManyEntries && e?.description == "\(path): found more than 5 entries, expected at most 5 entries")
        #expect(reader.entriesSeen == 6)  // stopped at the first entry over the limit
        #expect(archiveError(path, limits: ArchiveLimits(maxEntries: 20)).0 == nil)
    }

    @Test func entryAndTotalSizeLimitsCountRealBytes() {
        let path = hostileArchive(.tar, [.zeros("a", 300_000), .zeros("b", 300_000)])
        let (e1, r1) = archiveError(path, limits: ArchiveLimits(maxEntryBytes: 200_000))
        #expect(e1?.code == .entryTooLarge && e1?.description.contains("entry \"a\"") == true)
        #expect(r1.totalBytesRead <= 200_000 + Int64(ArchiveReader.chunkSize))
        let (e2, r2) = archiveError(path, limits: ArchiveLimits(maxTotalBytes: 500_000))
        #expect(e2?.code == .totalTooLarge && e2?.description.contains("entry \"b\"") == true)
        #expect(r2.totalBytesRead <= 500_000 + Int64(ArchiveReader.chunkSize))
    }

    @Test(arguments: [ArchiveKind.tarGz, .zip])
    func compressionRatioIsCheckedWhileStreaming(kind: ArchiveKind) {
        // 16 MiB of zeros: ~1000:1 with deflate. A 100:1 limit past 64 KiB must trip early.
        let path = hostileArchive(kind, [.file("ok.txt", Array("fine".utf8)), .zeros("bomb.bin", 16 << 20)])
        let limits = ArchiveLimits(maxRatio: 100, ratioThreshold: 64 << 10)
        let (e, reader) = archiveError(path, limits: limits)
        #expect(e?.code == .compressionRatio)
        #expect(e?.description.hasPrefix("\(path): entry \"bomb.bin\": found a compression ratio of") == true)
        #expect(reader.totalBytesRead < 4 << 20)
        // Ordinary data is not mistaken for a bomb.
        var noise = [UInt8](repeating: 0, count: 2 << 20)
        var s: UInt32 = 1
        for i in noise.indices { s = s &* 1_664_525 &+ 1_013_904_223; noise[i] = UInt8(s >> 24) }
        #expect(archiveError(hostileArchive(kind, [.file("noise", noise)]), limits: limits).0 == nil)
    }

    @Test func xzBombTripsTheDefaultRatioLimit() {
        // xz packs zeros far beyond 1000:1: rejected by the ratio rule with default limits, long before 256 MiB.
        let path = hostileArchive(.tarXz, [.zeros("zeros.bin", 64 << 20)])
        let (e, reader) = archiveError(path)
        #expect(e?.code == .compressionRatio)
        #expect(reader.totalBytesRead < 64 << 20)
    }

    @Test func threeGiBGzipBombIsRejectedWithBoundedWork() throws {
        let path = DropBuilder.bomb3GiB
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(size < 8 << 20)  // the bomb is a few MB on disk
        let limits = ArchiveLimits()
        let (e, reader) = archiveError(path, limits: limits)
        // Default limits: gzip packs zeros at ~1031:1, so the ratio rule trips just past its 1 MiB threshold.
        #expect(e?.code == .compressionRatio)
        #expect(e?.description.hasPrefix("\(path): entry \"zeros.bin\": found a compression ratio of") == true)
        #expect(reader.totalBytesRead <= limits.ratioThreshold + 4 * Int64(ArchiveReader.chunkSize))
        // With the ratio rule relaxed, the per-entry limit must hold at exactly limit + one chunk.
        let relaxed = ArchiveLimits(maxRatio: 1e9)
        let (e2, r2) = archiveError(path, limits: relaxed)
        #expect(e2?.code == .entryTooLarge && e2?.description.contains("more than 256 MiB") == true)
        #expect(r2.totalBytesRead <= relaxed.maxEntryBytes + Int64(ArchiveReader.chunkSize))
    }

    @Test func corruptGzipIsRejected() throws {
        let path = hostileArchive(.tarGz, (0..<40).map { i in .file("f\(i).bin", (0..<4000).map { UInt8(($0 * 31 + i * 7) % 251) }) })
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for i in (bytes.count / 2)..<(bytes.count / 2 + 64) { bytes[i] ^= 0x5A }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (e, _) = archiveError(path)
        #expect(e?.code == .corruptArchive)
        #expect(e?.description.hasPrefix("\(path):") == true && e?.description.contains("corrupt") == true)
        // Truncated gzip and a file that is no archive at all.
        try Data(bytes.prefix(bytes.count / 3)).write(to: URL(fileURLWithPath: path))
        #expect(archiveError(path).0?.code == .corruptArchive)
        try Data("not an archive, just text\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(archiveError(path).0?.code == .corruptArchive)
    }
}
