import CArchive
import Foundation
import Tensors
@testable import Datasets

/// Archive container + compression filter written by `DropBuilder`.
enum ArchiveKind: String, CaseIterable {
    case tar, tarGz = "tar.gz", tarXz = "tar.xz", tarZst = "tar.zst", zip
}

/// One entry to write. `zeros` streams that many zero bytes without holding them in memory.
enum DropEntry {
    case file(String, [UInt8])
    case zeros(String, Int64)
    case directory(String)
    case symlink(String, target: String)
    case hardlink(String, target: String)
    case charDevice(String)
    case fifo(String)

    var name: String {
        switch self {
        case .file(let n, _), .zeros(let n, _), .directory(let n), .symlink(let n, _), .hardlink(let n, _),
             .charDevice(let n), .fifo(let n): return n
        }
    }
}

/// Builds valid and hostile drops (archives + manifests) for tests with libarchive's writer.
enum DropBuilder {
    /// A fresh temporary directory (one per call) under the system temp dir.
    static func tempDir() -> String {
        let dir = NSTemporaryDirectory() + "fairgen-datasets-tests/" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `entries` as an archive of `kind` at `path`.
    static func writeArchive(_ path: String, kind: ArchiveKind, entries: [DropEntry]) {
        let a = archive_write_new()!
        defer { archive_write_free(a) }
        switch kind {
        case .zip:
            check(archive_write_set_format_zip(a), a)
        case .tar:
            check(archive_write_set_format_pax_restricted(a), a)
        case .tarGz:
            check(archive_write_set_format_pax_restricted(a), a)
            check(archive_write_add_filter_gzip(a), a)
        case .tarXz:
            check(archive_write_set_format_pax_restricted(a), a)
            check(archive_write_add_filter_xz(a), a)
        case .tarZst:
            check(archive_write_set_format_pax_restricted(a), a)
            check(archive_write_add_filter_zstd(a), a)
        }
        check(archive_write_open_filename(a, path), a)
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        for e in entries {
            let entry = archive_entry_new()!
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname(entry, e.name)
            archive_entry_set_perm(entry, 0o644)
            archive_entry_set_mtime(entry, 1_700_000_000, 0)
            switch e {
            case .file(_, let bytes):
                archive_entry_set_filetype(entry, FG_AE_IFREG)
                archive_entry_set_size(entry, Int64(bytes.count))
                check(archive_write_header(a, entry), a)
                if !bytes.isEmpty { _ = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) } }
            case .zeros(_, let count):
                archive_entry_set_filetype(entry, FG_AE_IFREG)
                archive_entry_set_size(entry, count)
                check(archive_write_header(a, entry), a)
                var left = count
                while left > 0 {
                    let n = Int(min(left, Int64(chunk.count)))
                    _ = chunk.withUnsafeBytes { archive_write_data(a, $0.baseAddress, n) }
                    left -= Int64(n)
                }
            case .directory:
                archive_entry_set_filetype(entry, FG_AE_IFDIR)
                archive_entry_set_perm(entry, 0o755)
                check(archive_write_header(a, entry), a)
            case .symlink(_, let target):
                archive_entry_set_filetype(entry, FG_AE_IFLNK)
                archive_entry_set_symlink(entry, target)
                check(archive_write_header(a, entry), a)
            case .hardlink(_, let target):
                archive_entry_set_filetype(entry, FG_AE_IFREG)
                archive_entry_set_hardlink(entry, target)
                archive_entry_set_size(entry, 0)
                check(archive_write_header(a, entry), a)
            case .charDevice:
                archive_entry_set_filetype(entry, 0o020000)
                archive_entry_set_rdev(entry, 0x0103)
                check(archive_write_header(a, entry), a)
            case .fifo:
                archive_entry_set_filetype(entry, 0o010000)
                check(archive_write_header(a, entry), a)
            }
        }
        check(archive_write_close(a), a)
    }

    private static func check(_ r: Int32, _ a: OpaquePointer) {
        if r < ARCHIVE_WARN {
            fatalError("DropBuilder: libarchive: \(String(cString: archive_error_string(a)))")
        }
    }

    /// Writes `manifest` text as `dir/name.yaml` and the archive as `dir/name.<kind>`; returns the manifest path.
    @discardableResult
    static func writeDrop(dir: String, name: String = "toy", manifest: String, kind: ArchiveKind = .tarGz,
                          entries: [DropEntry], manifestExtension: String = "yaml") -> String {
        writeArchive(dir + "/\(name).\(kind.rawValue)", kind: kind, entries: entries)
        let path = dir + "/\(name).\(manifestExtension)"
        try! manifest.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A small single-label manifest naming `archive`.
    static func manifest(name: String = "toy", archive: String, extra: String = "") -> String {
        """
        name: \(name)
        archive: \(archive)
        modality: dermatology
        table: metadata.csv
        image_column: path
        label:
          kind: single
          column: diagnosis
          classes: [eczema, melanoma]
        attributes: [skin_tone]
        split_column: split
        high_risk: [melanoma]
        pipeline:
          base_resolution: 4
          final_resolution: 8
        \(extra)
        """
    }

    /// Deterministic test image `[C,H,W]` with values on the 8-bit grid (so PNG round trips are exact).
    static func pattern(channels: Int, height: Int, width: Int, seed: Int) -> Tensor {
        var t = Tensor(zeros: [channels, height, width])
        for c in 0..<channels {
            for y in 0..<height {
                for x in 0..<width {
                    let v = (x * 37 + y * 11 + c * 71 + seed * 13) % 256
                    t[c, y, x] = Float(v) / 255
                }
            }
        }
        return t
    }

    /// A valid drop: `count` RGB 8×8 PNGs, a table alternating classes and tones, all splits used.
    static func validEntries(count: Int = 6, tableFirst: Bool = true) -> [DropEntry] {
        let splits = ["train", "val", "test_id", "test_ood", "unlabeled", "train"]
        var csv = "path,diagnosis,skin_tone,split\n"
        var images: [DropEntry] = [.directory("img")]
        for i in 0..<count {
            let label = i % 3 == 2 ? "" : (i % 2 == 0 ? "eczema" : "melanoma")
            let tone = i % 4 == 3 ? "" : (i % 2 == 0 ? "light" : "dark")
            csv += "img/\(i).png,\(label),\(tone),\(splits[i % splits.count])\n"
            images.append(.file("img/\(i).png", try! PNGCodec.encode(pattern(channels: 3, height: 8, width: 8, seed: i))))
        }
        let table = DropEntry.file("metadata.csv", Array(csv.utf8))
        return tableFirst ? [table] + images : images + [table]
    }

    /// A PNG whose IHDR declares `width × height` (valid CRC), followed by a tiny IDAT and IEND.
    static func pngDeclaring(width: UInt32, height: UInt32) -> [UInt8] {
        var out = PNGCodec.signature
        func chunk(_ type: String, _ data: [UInt8]) {
            let len = UInt32(data.count)
            out += [UInt8(len >> 24), UInt8(len >> 16 & 0xFF), UInt8(len >> 8 & 0xFF), UInt8(len & 0xFF)]
            let body = Array(type.utf8) + data
            out += body
            let c = crc32(body)
            out += [UInt8(c >> 24), UInt8(c >> 16 & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c & 0xFF)]
        }
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])
        chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])
        chunk("IEND", [])
        return out
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// The 3 GiB-of-zeros `.tar.gz` bomb (~3 MB on disk), written once per test process, streamingly.
    static let bomb3GiB: String = {
        let dir = tempDir()
        let path = dir + "/bomb.tar.gz"
        writeArchive(path, kind: .tarGz, entries: [.zeros("zeros.bin", 3 << 30)])
        return path
    }()
}
