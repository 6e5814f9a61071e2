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
        // Writer failures surface as the Datasets module's I/O error, naming the archive.
        func io<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as TarWriter.Failure {
                throw DatasetError(.io, file: path, location: "", found: e.description, expected: "a writable .tar.gz")
            }
        }
        let tar = try io { try TarWriter(path: path, gzip: true, mtime: 1_700_000_000) }
        func add(_ name: String, _ bytes: [UInt8]) throws { try io { try tar.add(name, bytes) } }
        var csv = "path,diagnosis,skin_tone,split\n"
        for i in 0..<count {
            csv += "\(name(i)),\(i % 2 == 0 ? "a" : "b"),\(i % 3 == 0 ? "dark" : "light"),train\n"
        }
        try add("metadata.csv", Array(csv.utf8))
        for i in 0..<count { try add(name(i), try PNGCodec.encode(image(index: i, side: side, seed: seed))) }
        try io { try tar.close() }
    }

    /// Entry name of image i (`img/00042.png`).
    static func name(_ i: Int) -> String {
        let digits = String(i)
        return "img/" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".png"
    }
}
