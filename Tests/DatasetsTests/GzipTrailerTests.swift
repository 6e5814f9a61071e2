import CArchive
import Foundation
import Testing
@testable import Datasets

/// Gzip-compresses `bytes` as one member with libarchive's writer at zlib `level` (0: stored blocks,
/// so the tar's bytes appear verbatim and a flipped byte inflates without complaint).
private func gzip(_ bytes: [UInt8], level: Int) -> [UInt8] {
    let a = archive_write_new()!
    defer { archive_write_free(a) }
    archive_write_set_format_raw(a)
    archive_write_add_filter_gzip(a)
    archive_write_set_filter_option(a, "gzip", "compression-level", "\(level)")
    archive_write_set_bytes_in_last_block(a, 1)
    var out = [UInt8](repeating: 0, count: bytes.count + bytes.count / 8 + 4096)
    var used = 0
    let opened = out.withUnsafeMutableBytes { archive_write_open_memory(a, $0.baseAddress, $0.count, &used) }
    precondition(opened == ARCHIVE_OK)
    let entry = archive_entry_new()!
    defer { archive_entry_free(entry) }
    archive_entry_set_pathname(entry, "data")
    archive_entry_set_filetype(entry, FG_AE_IFREG)
    archive_entry_set_size(entry, Int64(bytes.count))
    precondition(archive_write_header(a, entry) == ARCHIVE_OK)
    _ = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
    precondition(archive_write_close(a) == ARCHIVE_OK)
    return Array(out.prefix(used))
}

/// A tar of a few small files, its stored-block gzip, and where things are.
private struct StoredDrop {
    static let notes = Array("these notes are never decoded by anyone".utf8)
    let tar: [UInt8]
    let gz: [UInt8]

    init() throws {
        let dir = DropBuilder.tempDir()
        DropBuilder.writeArchive(dir + "/t.tar", kind: .tar,
                                 entries: DropBuilder.validEntries(count: 3) + [.file("notes.txt", StoredDrop.notes)])
        tar = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/t.tar")))
        gz = gzip(tar, level: 0)
    }

    /// Writes `bytes` as a .tar.gz and returns its path.
    func write(_ bytes: [UInt8]) throws -> String {
        let path = DropBuilder.tempDir() + "/drop.tar.gz"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// Issue 12: the gzip trailer (CRC-32, ISIZE) is checked, and the stream is read to its end.
@Suite struct GzipTrailerTests {
    @Test func storedAndMultiMemberGzipRead() throws {
        let d = try StoredDrop()
        #expect(d.gz.count > d.tar.count, "level 0 stores the tar verbatim")
        var names: [String] = []
        try ArchiveReader(path: try d.write(d.gz)).forEachEntry { names.append($0.name) }
        #expect(names.contains("notes.txt") && names.contains("metadata.csv"))
        // Two members (RFC 1952 allows concatenation; `cat a.gz b.gz` makes them), split mid-entry.
        let half = d.tar.count / 2
        var two: [String] = []
        try ArchiveReader(path: try d.write(gzip(Array(d.tar[..<half]), level: 6) + gzip(Array(d.tar[half...]), level: 0)))
            .forEachEntry { two.append($0.name) }
        #expect(two == names)
    }

    @Test(arguments: [(-8, "incorrect data check"), (-5, "incorrect data check"), (-4, "incorrect length check"), (-1, "incorrect length check")])
    func flippedTrailerByteIsRejected(offsetFromEnd: Int, message: String) throws {
        let d = try StoredDrop()
        var bad = d.gz
        bad[bad.count + offsetFromEnd] ^= 0x01
        let path = try d.write(bad)
        let (e, _) = archiveError(path)
        #expect(e?.code == .corruptArchive && e?.file == path, "\(String(describing: e))")
        #expect(e?.found == "a corrupt gzip stream (bad gzip data (\(message)))", "\(String(describing: e))")
        // A small stream is inflated (trailer included) by libarchive's first read-ahead, so the error
        // surfaces before the first entry: it names the archive only.
        #expect(e?.description == "\(path): found a corrupt gzip stream (bad gzip data (\(message))), expected a complete .tar.gz whose CRC-32 and length trailers match its data")
    }

    @Test func flippedDataByteInAStoredBlockIsRejected() throws {
        // The notes are stored verbatim; flipping one of their bytes still inflates, and only the CRC
        // can tell. The entry is not even kept by ingest's filter, so nothing else would notice.
        let d = try StoredDrop()
        let at = try #require(d.gz.firstRange(of: StoredDrop.notes)).lowerBound + 3
        var bad = d.gz
        bad[at] ^= 0x20
        let (e, _) = archiveError(try d.write(bad))
        #expect(e?.code == .corruptArchive && e?.found.contains("incorrect data check") == true, "\(String(describing: e))")
        // The tar padding after the end-of-archive blocks: old readers stopped before it.
        var padding = d.gz
        let zero = padding.count - 8 - 100
        #expect(padding[zero] == 0)
        padding[zero] = 0x5A
        #expect(archiveError(try d.write(padding)).0?.found.contains("incorrect data check") == true)
    }

    @Test func truncatedStreamAndTrailingGarbageAreRejected() throws {
        let d = try StoredDrop()
        let (cut, _) = archiveError(try d.write(Array(d.gz.dropLast(4))))
        #expect(cut?.code == .corruptArchive && cut?.found.contains("truncated") == true, "\(String(describing: cut))")
        let (junk, _) = archiveError(try d.write(d.gz + Array("junk after the stream".utf8)))
        #expect(junk?.code == .corruptArchive && junk?.found.contains("after gzip member 1") == true, "\(String(describing: junk))")
    }

    @Test func zeroPaddingAfterTheLastMemberIsAcceptedLikeGzipDoes() throws {
        let d = try StoredDrop()
        var names: [String] = []
        try ArchiveReader(path: try d.write(d.gz + [UInt8](repeating: 0, count: 10_000))).forEachEntry { names.append($0.name) }
        #expect(names.contains("notes.txt"))
        let (e, _) = archiveError(try d.write(d.gz + [0, 0, 0, 7]))
        #expect(e?.code == .corruptArchive && e?.found.contains("non-zero bytes after") == true, "\(String(describing: e))")
    }

    @Test func ingestRefusesADropWithABadTrailer() throws {
        let d = try StoredDrop()
        let archive = try d.write(d.gz)
        let dir = (archive as NSString).deletingLastPathComponent
        try DropBuilder.manifest(archive: "drop.tar.gz").write(toFile: dir + "/drop.yaml", atomically: true, encoding: .utf8)
        #expect(try ingestDrop(manifestPath: dir + "/drop.yaml").table.rows.count == 3)
        var bad = d.gz
        bad[bad.count - 6] ^= 0x80
        try Data(bad).write(to: URL(fileURLWithPath: archive))
        let e = ingestError(dir + "/drop.yaml")
        #expect(e?.code == .corruptArchive && e?.file == archive && e?.found.contains("incorrect data check") == true, "\(String(describing: e))")
    }
}
