import CArchive
import Foundation

/// Ingest limits on archives (DESIGN §9). Defaults are the design's; tests configure small ones.
/// Limits are checked against bytes actually decompressed, chunk by chunk — header sizes are never trusted.
public struct ArchiveLimits: Sendable, Equatable {
    /// Most entries (of any type, directories included).
    public var maxEntries: Int = 1_000_000
    /// Most uncompressed bytes over all entries.
    public var maxTotalBytes: Int64 = 64 << 30
    /// Most uncompressed bytes in one entry.
    public var maxEntryBytes: Int64 = 256 << 20
    /// Largest uncompressed : compressed ratio of one entry ...
    public var maxRatio: Double = 1000
    /// ... checked once the entry has produced more than this many bytes.
    public var ratioThreshold: Int64 = 1 << 20

    public init(maxEntries: Int = 1_000_000, maxTotalBytes: Int64 = 64 << 30, maxEntryBytes: Int64 = 256 << 20,
                maxRatio: Double = 1000, ratioThreshold: Int64 = 1 << 20) {
        self.maxEntries = maxEntries; self.maxTotalBytes = maxTotalBytes; self.maxEntryBytes = maxEntryBytes
        self.maxRatio = maxRatio; self.ratioThreshold = ratioThreshold
    }
}

/// One regular file of an archive, read into memory.
public struct ArchiveEntry: Sendable {
    /// Normalised relative name (`a/b.png`; a leading `./` and `.` components removed).
    public let name: String
    /// The entry's bytes (empty when the caller's `keep` filter declined the entry).
    public let bytes: [UInt8]
}

/// Streams a `.tar`, `.tar.gz` (or other libarchive filters: zstd, xz, bzip2) or `.zip` archive once,
/// enforcing `ArchiveLimits` while reading, rejecting unsafe names and non-regular entries, and handing
/// regular files to the caller in archive order. Nothing is ever written to disk. Gzip files are
/// inflated by `GzipSource` (zlib) and read to their end, so a bad CRC-32/ISIZE trailer is an error.
///
/// Only the tar and zip formats are enabled: the inputs DESIGN §3 asks for, and less parser surface
/// than `archive_read_support_format_all` (iso9660, rar, 7z, cab, …).
public final class ArchiveReader {
    /// The archive file.
    public let path: String
    public let limits: ArchiveLimits
    /// Bytes asked of libarchive per read; a limit is overshot by at most this much before it trips.
    public static let chunkSize = 64 << 10
    /// Entries seen so far (all types).
    public private(set) var entriesSeen = 0
    /// Uncompressed bytes read so far over all entries (the memory/CPU actually spent).
    public private(set) var totalBytesRead: Int64 = 0
    /// The zlib source when the file is gzip (kept here so it outlives libarchive's use of it).
    private var gzip: GzipSource?

    public init(path: String, limits: ArchiveLimits = ArchiveLimits()) {
        self.path = path
        self.limits = limits
    }

    /// Reads the archive once. For each regular file, `keep(name)` decides whether its bytes are kept
    /// (all bytes are read and counted either way, so limits hold for skipped entries too); `body`
    /// receives the kept entries. Directories are skipped. Throws `DatasetError` on the first violation.
    public func forEachEntry(keep: (String) -> Bool = { _ in true }, _ body: (ArchiveEntry) throws -> Void) throws {
        guard let a = archive_read_new() else {
            throw DatasetError(.io, file: path, location: "", found: "no memory for libarchive", expected: "a readable archive")
        }
        defer { archive_read_free(a) }
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        archive_read_support_format_zip(a)
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw DatasetError(.io, file: path, location: "", found: "no readable file", expected: "a readable archive file")
        }
        gzip = nil
        if GzipSource.isGzip(path) {
            // zlib inflates (and verifies the trailer); libarchive only parses the tar (or zip) inside.
            let source = try GzipSource(path: path)
            gzip = source
            let opened = archive_read_open(a, Unmanaged.passUnretained(source).toOpaque(), nil, { _, client, buffer in
                let source = Unmanaged<GzipSource>.fromOpaque(client!).takeUnretainedValue()
                guard let chunk = try? source.next() else { return -1 }
                buffer?.pointee = UnsafeRawPointer(chunk.baseAddress)
                return chunk.count
            }, nil)
            guard opened == ARCHIVE_OK else { throw corrupt(a, "") }
        } else {
            archive_read_support_filter_all(a)
            guard archive_read_open_filename(a, path, 16384) == ARCHIVE_OK else { throw corrupt(a, "") }
        }

        let buffer = UnsafeMutableRawPointer.allocate(byteCount: ArchiveReader.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var seen = Set<String>()
        var lastName = ""
        while true {
            var entryPtr: OpaquePointer?
            let r = archive_read_next_header(a, &entryPtr)
            if r == ARCHIVE_EOF {
                try drainGzip(after: lastName)
                break
            }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry = entryPtr else {
                throw corrupt(a, lastName.isEmpty ? "" : "after entry \(quoted(lastName))")
            }
            entriesSeen += 1
            if entriesSeen > limits.maxEntries {
                throw DatasetError(.tooManyEntries, file: path, location: "", found: "more than \(limits.maxEntries) entries",
                                   expected: "at most \(limits.maxEntries) entries")
            }
            guard let cName = archive_entry_pathname(entry), let raw = String(validatingCString: cName) else {
                throw DatasetError(.badEntryName, file: path, location: "entry #\(entriesSeen)",
                                   found: "a name that is not UTF-8", expected: "a UTF-8 relative name")
            }
            let location = "entry \(quoted(raw))"
            let name: String
            do { name = try normalisedEntryName(raw) } catch let p as EntryNameProblem {
                throw DatasetError(p.code, file: path, location: location, found: p.found, expected: p.expected)
            }
            lastName = name
            let type = archive_entry_filetype(entry)
            if archive_entry_hardlink(entry) != nil || archive_entry_symlink(entry) != nil || type == FG_AE_IFLNK {
                throw DatasetError(.linkEntry, file: path, location: location,
                                   found: archive_entry_hardlink(entry) != nil ? "a hard link" : "a symbolic link",
                                   expected: "regular files and directories only (links are not followed)")
            }
            if type == FG_AE_IFDIR { continue }
            guard type == FG_AE_IFREG else {
                throw DatasetError(.specialEntry, file: path, location: location, found: fileTypeName(type),
                                   expected: "regular files and directories only")
            }
            guard seen.insert(name).inserted else {
                throw DatasetError(.duplicateEntry, file: path, location: location, found: "a second entry named \(quoted(name))",
                                   expected: "each name once")
            }
            let wanted = keep(name)
            let bytes = try readData(a, entry: name, into: buffer, keep: wanted)
            if wanted { try body(ArchiveEntry(name: name, bytes: bytes)) }
        }
    }

    /// Reads the current entry's data chunk by chunk, checking every limit after each chunk.
    private func readData(_ a: OpaquePointer, entry name: String, into buffer: UnsafeMutableRawPointer, keep: Bool) throws -> [UInt8] {
        let location = "entry \(quoted(name))"
        let compressedStart = compressedPosition(a)
        var n: Int64 = 0
        var bytes: [UInt8] = []
        while true {
            let got = archive_read_data(a, buffer, ArchiveReader.chunkSize)
            if got == 0 { break }
            if got < 0 { throw corrupt(a, location) }
            n += Int64(got)
            totalBytesRead += Int64(got)
            if n > limits.maxEntryBytes {
                throw DatasetError(.entryTooLarge, file: path, location: location,
                                   found: "more than \(byteText(limits.maxEntryBytes)) of data",
                                   expected: "at most \(byteText(limits.maxEntryBytes)) per entry")
            }
            if totalBytesRead > limits.maxTotalBytes {
                throw DatasetError(.totalTooLarge, file: path, location: location,
                                   found: "more than \(byteText(limits.maxTotalBytes)) uncompressed in total",
                                   expected: "at most \(byteText(limits.maxTotalBytes)) in total")
            }
            if n > limits.ratioThreshold {
                let compressed = max(1, compressedPosition(a) - compressedStart)
                let ratio = Double(n) / Double(compressed)
                if ratio > limits.maxRatio {
                    throw DatasetError(.compressionRatio, file: path, location: location,
                                       found: "a compression ratio of \(Int(ratio)):1 after \(byteText(n)) (a decompression bomb?)",
                                       expected: "at most \(Int(limits.maxRatio)):1")
                }
            }
            if keep { bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: got)) }
        }
        return bytes
    }

    /// Compressed bytes read so far: from zlib for gzip, else from libarchive's lowest filter.
    private func compressedPosition(_ a: OpaquePointer) -> Int64 {
        gzip?.compressedBytes ?? archive_filter_bytes(a, -1)
    }

    /// After the tar end-of-archive blocks, inflates the rest of a gzip stream (tar padding, further
    /// members) so that every member's CRC-32 and ISIZE are checked. The bytes count towards
    /// `maxTotalBytes` and the ratio limit like entry data, so padding cannot hide a bomb.
    private func drainGzip(after lastName: String) throws {
        guard let gzip else { return }
        let location = lastName.isEmpty ? "end of archive" : "after entry \(quoted(lastName))"
        let compressedStart = gzip.compressedBytes
        var n: Int64 = 0
        while true {
            let chunk: UnsafeRawBufferPointer
            do { chunk = try gzip.next() } catch { throw gzipCorrupt(location) }
            if chunk.isEmpty { return }
            n += Int64(chunk.count)
            totalBytesRead += Int64(chunk.count)
            if totalBytesRead > limits.maxTotalBytes {
                throw DatasetError(.totalTooLarge, file: path, location: location,
                                   found: "more than \(byteText(limits.maxTotalBytes)) uncompressed in total",
                                   expected: "at most \(byteText(limits.maxTotalBytes)) in total")
            }
            if n > limits.ratioThreshold {
                let ratio = Double(n) / Double(max(1, gzip.compressedBytes - compressedStart))
                if ratio > limits.maxRatio {
                    throw DatasetError(.compressionRatio, file: path, location: location,
                                       found: "a compression ratio of \(Int(ratio)):1 after \(byteText(n)) past the last entry (a decompression bomb?)",
                                       expected: "at most \(Int(limits.maxRatio)):1")
                }
            }
        }
    }

    private func gzipCorrupt(_ location: String) -> DatasetError {
        DatasetError(.corruptArchive, file: path, location: location,
                     found: "a corrupt gzip stream (\(gzip?.failure ?? "unreadable data"))",
                     expected: "a complete .tar.gz whose CRC-32 and length trailers match its data")
    }

    private func corrupt(_ a: OpaquePointer, _ location: String) -> DatasetError {
        if gzip?.failure != nil { return gzipCorrupt(location) }
        let message = archive_error_string(a).map { String(cString: $0) } ?? "unreadable data"
        return DatasetError(.corruptArchive, file: path, location: location, found: "corrupt or unsupported data (\(message))",
                            expected: "a readable .tar, .tar.gz, .tar.zst or .zip archive")
    }
}

private func fileTypeName(_ type: UInt32) -> String {
    switch type & FG_AE_IFMT {
    case 0o020000: return "a character device"
    case 0o060000: return "a block device"
    case 0o010000: return "a FIFO"
    case 0o140000: return "a socket"
    default: return "a special file (mode \(String(type, radix: 8)))"
    }
}

/// `1.0 MiB`-style size for messages.
func byteText(_ n: Int64) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 { return "\(n >> 30) GiB" }
    if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
    if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
    return "\(n) bytes"
}

/// Why an entry name was refused.
struct EntryNameProblem: Error {
    let code: DatasetError.Code
    let found: String
    let expected: String
}

/// The normalised form of an archive entry name: relative, `/`-separated, without empty or `.`
/// components (so `./a//b.png` → `a/b.png`). Rejects absolute names, drive letters, `..`, backslashes
/// and control characters. (An embedded NUL cannot survive libarchive's C strings: such a name arrives
/// truncated and is then checked like any other.)
func normalisedEntryName(_ raw: String) throws -> String {
    let expected = "a relative, normalised name without '..'"
    if raw.isEmpty { throw EntryNameProblem(code: .badEntryName, found: "an empty name", expected: expected) }
    for u in raw.unicodeScalars {
        if u.value < 0x20 || u.value == 0x7F {
            throw EntryNameProblem(code: .badEntryName, found: "a control character in the name", expected: expected)
        }
        if u == "\\" {
            throw EntryNameProblem(code: .badEntryName, found: "a backslash in the name", expected: expected + " using '/' separators")
        }
    }
    if raw.hasPrefix("/") {
        throw EntryNameProblem(code: .absolutePath, found: "an absolute path", expected: expected)
    }
    let scalars = Array(raw.unicodeScalars)
    if scalars.count >= 2, scalars[1] == ":", scalars[0].properties.isAlphabetic {
        throw EntryNameProblem(code: .absolutePath, found: "a drive-letter path", expected: expected)
    }
    var parts: [Substring] = []
    for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
        if part == ".." { throw EntryNameProblem(code: .pathTraversal, found: "a '..' path component", expected: expected) }
        if part != "." { parts.append(part) }
    }
    if parts.isEmpty { throw EntryNameProblem(code: .badEntryName, found: "a name with no components", expected: expected) }
    return parts.joined(separator: "/")
}
