import CArchive
import Foundation

/// Writes a deterministic tar archive through libarchive: ustar entries for regular files only, mode
/// 0644, uid/gid 0, one fixed mtime, optionally gzip-compressed without a timestamp, and no padding
/// after the end-of-archive marker. The same entries always give the same bytes. Used for synthetic
/// shards, the demo drop and the ingest benchmark's drop.
public final class TarWriter {
    /// The archive being written.
    public let path: String
    private let mtime: Int
    private var archive: OpaquePointer?

    /// Why writing failed: the archive's path, what was being done, libarchive's message.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Creates (truncates) `path`. `mtime` is stamped on every entry.
    public init(path: String, gzip: Bool, mtime: Int = 0) throws {
        self.path = path
        self.mtime = mtime
        guard let a = archive_write_new() else { throw Failure(description: "\(path): libarchive: out of memory") }
        archive = a
        guard archive_write_set_format_ustar(a) == ARCHIVE_OK,
              !gzip || archive_write_add_filter_gzip(a) == ARCHIVE_OK,
              !gzip || archive_write_set_options(a, "gzip:!timestamp") == ARCHIVE_OK,
              gzip || archive_write_add_filter_none(a) == ARCHIVE_OK,
              archive_write_set_bytes_per_block(a, 512) == ARCHIVE_OK,
              archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK,
              archive_write_open_filename(a, path) == ARCHIVE_OK else {
            throw failure("cannot create archive")
        }
    }

    deinit { if let a = archive { archive_write_free(a) } }

    /// Appends a regular file `name` holding `bytes`.
    public func add(_ name: String, _ bytes: [UInt8]) throws {
        guard let a = archive else { throw Failure(description: "\(path): add(\(name)) after close") }
        guard let entry = archive_entry_new() else { throw failure("out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, name)
        archive_entry_set_size(entry, la_int64_t(bytes.count))
        archive_entry_set_filetype(entry, FG_AE_IFREG)
        archive_entry_set_perm(entry, 0o644)
        archive_entry_set_mtime(entry, time_t(mtime), 0)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        guard archive_write_header(a, entry) == ARCHIVE_OK else { throw failure("cannot write the header of \(name)") }
        let written = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw failure("short write of \(name)") }
    }

    /// Writes the end-of-archive marker and closes the file.
    public func close() throws {
        guard let a = archive else { return }
        let closed = archive_write_close(a)
        let message = TarWriter.errorText(a)
        archive_write_free(a)
        archive = nil
        guard closed == ARCHIVE_OK else { throw Failure(description: "\(path): cannot finish archive: \(message)") }
    }

    private func failure(_ what: String) -> Failure {
        Failure(description: "\(path): \(what): \(archive.map(TarWriter.errorText) ?? "libarchive error")")
    }

    private static func errorText(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
