import Foundation
import Tensors

/// `fairgen bench ingest [--archive ARCHIVE]`: decode every PNG of an archive the way ingest does (stream
/// once, parallel batches, UInt8 planes) and report throughput and the process's peak resident memory.
/// Compare with `python3 bench/ingest_python.py ARCHIVE` on the same archive (from
/// `bench/make_ingest_archive.py`, or the one `IngestBenchArchive.write` makes).
public enum IngestBench {
    /// Decodes all `.png` entries of `archivePath` at their native size (resized to the first image's
    /// side if they differ). Returns the number of images decoded, images/s over the whole read + decode,
    /// and peak RSS in MB (VmHWM).
    public static func run(archivePath: String) throws -> (images: Int, imagesPerSecond: Double, peakRSSMB: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        var resolution = 0
        var decoder: BatchDecoder?
        try ArchiveReader(path: archivePath).forEachEntry(keep: { $0.lowercased().hasSuffix(".png") }) { entry in
            if decoder == nil {
                let header = try PNGCodec.header(entry.bytes, file: archivePath, entry: entry.name)
                resolution = max(1, min(header.width, header.height))
                decoder = BatchDecoder(file: archivePath, resolutions: [resolution], maxSide: 8192)
            }
            decoder!.add(entry)
        }
        decoder?.finish()
        var count = 0
        for (_, result) in decoder?.results ?? [:] {
            if case .failure(let error) = result { throw error }
            count += 1
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (count, Double(count) / seconds, peakRSSMB())
    }

    /// Peak resident set size of this process in MB (Linux `VmHWM`), 0 where unavailable.
    public static func peakRSSMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}
