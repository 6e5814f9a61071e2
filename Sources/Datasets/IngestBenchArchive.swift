import CArchive
import Foundation
import Tensors

/// Writes the drop `fairgen bench ingest` decodes when no `--archive` is given: a `.tar.gz` holding
/// `metadata.csv` and N RGB PNGs `img/00000.png`, … — the layout of `bench/make_ingest_archive.py`.
///
/// Each image is a smooth colour gradient with one darker Gaussian blob and N(0, 0.03) pixel noise, so PNG
/// compression behaves roughly as on natural images (pure noise or flat colour would not). The recipe
/// follows the Python script's, but draws from fairgen's `RNG` (image i from RNG(seed).split(i)), so the
/// pixels differ from the Python archive's. Every byte of the archive is a function of (count, side, seed):
/// fixed mtimes, uid/gid 0 and no timestamp in the gzip header.
public enum IngestBenchArchive {
    /// Image i as [3, side, side] in [0, 1].
    public static func image(index i: Int, side: Int = 64, seed: UInt64 = 0) -> Tensor {
        var rng = RNG(seed: seed).split(UInt64(i))
        let base = (0..<3).map { _ in 0.2 + 0.6 * rng.uniform() }
        let grad = (0..<6).map { _ in -0.3 + 0.6 * rng.uniform() }           // (dx, dy) per channel
        let cy = 0.2 + 0.6 * rng.uniform(), cx = 0.2 + 0.6 * rng.uniform(), r = 0.05 + 0.2 * rng.uniform()
        let dark = (0..<3).map { _ in 0.1 + 0.3 * rng.uniform() }
        var img = Tensor(zeros: [3, side, side])
        let inv = 1 / Float(side), twoR2 = 2 * r * r
        img.withUnsafeMutableBufferPointer { p in
            for c in 0..<3 {
                for y in 0..<side {
                    let fy = Float(y) * inv
                    for x in 0..<side {
                        let fx = Float(x) * inv
                        let blob = Foundation.exp(-((fx - cx) * (fx - cx) + (fy - cy) * (fy - cy)) / twoR2)
                        let v = base[c] + grad[2 * c] * fx + grad[2 * c + 1] * fy - dark[c] * blob + 0.03 * rng.normal()
                        p[(c * side + y) * side + x] = min(max(v, 0), 1)
                    }
                }
            }
        }
        return img
    }

    /// Writes `count` images of `side`×`side` (plus `metadata.csv`) to the `.tar.gz` at `path`, streaming
    /// one image at a time (memory stays small whatever `count` is).
    public static func write(to path: String, count: Int, side: Int = 64, seed: UInt64 = 0) throws {
        precondition(count >= 0 && side >= 1, "IngestBenchArchive: count \(count), side \(side)")
        func failure(_ a: OpaquePointer?, _ what: String) -> DatasetError {
            let detail = a.flatMap { archive_error_string($0) }.map { String(cString: $0) } ?? "unknown libarchive error"
            return DatasetError(.io, file: path, location: "", found: "\(what): \(detail)", expected: "a writable .tar.gz")
        }
        guard let a = archive_write_new() else { throw failure(nil, "no memory for libarchive") }
        defer { archive_write_free(a) }
        guard archive_write_set_format_ustar(a) == ARCHIVE_OK,
              archive_write_add_filter_gzip(a) == ARCHIVE_OK,
              archive_write_set_options(a, "gzip:!timestamp") == ARCHIVE_OK,
              archive_write_open_filename(a, path) == ARCHIVE_OK else {
            throw failure(a, "cannot create archive")
        }
        func add(_ name: String, _ bytes: [UInt8]) throws {
            guard let entry = archive_entry_new() else { throw failure(nil, "no memory for libarchive") }
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname(entry, name)
            archive_entry_set_size(entry, la_int64_t(bytes.count))
            archive_entry_set_filetype(entry, FG_AE_IFREG)
            archive_entry_set_perm(entry, 0o644)
            archive_entry_set_mtime(entry, 1_700_000_000, 0)
            archive_entry_set_uid(entry, 0)
            archive_entry_set_gid(entry, 0)
            guard archive_write_header(a, entry) == ARCHIVE_OK else { throw failure(a, "cannot write header of \(name)") }
            let written = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
            guard written == bytes.count else { throw failure(a, "short write of \(name)") }
        }
        var csv = "path,diagnosis,skin_tone,split\n"
        for i in 0..<count {
            csv += "\(name(i)),\(i % 2 == 0 ? "a" : "b"),\(i % 3 == 0 ? "dark" : "light"),train\n"
        }
        try add("metadata.csv", Array(csv.utf8))
        for i in 0..<count { try add(name(i), try PNGCodec.encode(image(index: i, side: side, seed: seed))) }
        guard archive_write_close(a) == ARCHIVE_OK else { throw failure(a, "cannot finish archive") }
    }

    /// Entry name of image i (`img/00042.png`).
    static func name(_ i: Int) -> String {
        let digits = String(i)
        return "img/" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".png"
    }
}
