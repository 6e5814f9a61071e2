import CArchive
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Inflates a gzip file with zlib for `ArchiveReader`, verifying every member's trailer.
///
/// libarchive's gzip filter skips the trailer's CRC-32 and ISIZE, and a tar reader stops at the tar
/// end-of-archive blocks anyway, so a flipped byte inside a stored (uncompressed) deflate block was
/// ingested as data. zlib with a gzip wrapper checks both fields at the end of each member; the reader
/// feeds libarchive's tar/zip parser from here and calls `drain` after the parser's end, so the whole
/// stream up to the last trailer is always read. Concatenated members (RFC 1952 §2.2) and zero padding
/// after the last member are accepted (as by gzip(1)); anything else after a member is an error.
final class GzipSource {
    let path: String
    static let chunkSize = 64 << 10
    private let fd: Int32
    private var stream = z_stream()
    private let input = UnsafeMutablePointer<UInt8>.allocate(capacity: GzipSource.chunkSize)
    private let output = UnsafeMutablePointer<UInt8>.allocate(capacity: GzipSource.chunkSize)
    private var fileBytes: Int64 = 0
    private var inputEOF = false
    private var memberDone = false
    private var members = 0
    private var inPadding = false
    /// True once the last member's trailer has been verified and the file is exhausted.
    private(set) var finished = false
    /// Why the stream was refused (set before `next` throws; libarchive only sees "read error").
    private(set) var failure: String?

    /// Whether the file starts with the gzip magic bytes 1f 8b.
    static func isGzip(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 2)) ?? Data()
        return head.count == 2 && head[head.startIndex] == 0x1f && head[head.startIndex + 1] == 0x8b
    }

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DatasetError(.io, file: path, location: "", found: "a file that cannot be opened (\(String(cString: strerror(errno))))",
                               expected: "a readable archive file")
        }
        // (A throwing init still runs deinit, which closes `fd`.)
        guard fg_inflate_init_gzip(&stream) == Z_OK else {
            throw DatasetError(.io, file: path, location: "", found: "no memory for zlib", expected: "a readable archive")
        }
    }

    deinit {
        inflateEnd(&stream)
        close(fd)
        input.deallocate()
        output.deallocate()
    }

    /// Compressed bytes consumed so far (for the compression-ratio limit).
    var compressedBytes: Int64 { fileBytes - Int64(stream.avail_in) }

    struct Failure: Error {}

    /// The next chunk of inflated bytes; empty at the verified end of the stream.
    func next() throws -> UnsafeRawBufferPointer {
        while !finished {
            if stream.avail_in == 0 && !inputEOF {
                let n = read(fd, input, GzipSource.chunkSize)
                if n < 0 {
                    if errno == EINTR { continue }
                    return try fail("a read error (\(String(cString: strerror(errno))))")
                }
                if n == 0 { inputEOF = true } else {
                    stream.next_in = input
                    stream.avail_in = UInt32(n)
                    fileBytes += Int64(n)
                }
            }
            if memberDone {
                if stream.avail_in == 0 {
                    if inputEOF { finished = true }
                    continue
                }
                // Zero bytes after the last member (block padding some writers add) are ignored, as
                // gzip(1) does; anything else after a member must be another member.
                if inPadding || stream.next_in.pointee == 0 {
                    inPadding = true
                    while stream.avail_in > 0 && stream.next_in.pointee == 0 {
                        stream.next_in = stream.next_in.advanced(by: 1)
                        stream.avail_in -= 1
                    }
                    if stream.avail_in > 0 { return try fail("bad gzip data after gzip member \(members) (non-zero bytes after its zero padding)") }
                    continue
                }
                guard inflateReset(&stream) == Z_OK else { return try fail("a zlib reset failure") }
                memberDone = false
            }
            stream.next_out = output
            stream.avail_out = UInt32(GzipSource.chunkSize)
            let r = inflate(&stream, Z_NO_FLUSH)
            let produced = GzipSource.chunkSize - Int(stream.avail_out)
            switch r {
            case Z_OK:
                break
            case Z_STREAM_END:
                // zlib has just checked this member's CRC-32 and ISIZE against the inflated bytes.
                memberDone = true
                members += 1
            case Z_BUF_ERROR where stream.avail_in == 0:
                if inputEOF { return try fail("the gzip stream ends early (truncated: no complete trailer)") }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(r)"
                let place = members > 0 ? " after gzip member \(members)" : ""
                return try fail("bad gzip data\(place) (\(message))")
            }
            if produced > 0 { return UnsafeRawBufferPointer(start: output, count: produced) }
        }
        return UnsafeRawBufferPointer(start: output, count: 0)
    }

    private func fail(_ message: String) throws -> UnsafeRawBufferPointer {
        failure = message
        throw Failure()
    }
}
