import ArgumentParser
import Datasets
import Foundation
import Tensors

/// The JSON line of `fairgen bench ingest` (the keys of BenchResult where they apply).
struct IngestBenchLine: Encodable {
    var workload = "ingest"
    var images: Int
    var images_per_second: Double
    var peak_rss_mb: Double
    var engine = "fairgen"
    var threads: Int
    var blas = BLASInfo.current()
}

extension BenchCommand {
    /// `fairgen bench ingest`: with `--archive`, decodes it here and prints the line. Without, writes the
    /// generated archive (IngestBenchArchive) first, then benchmarks it in a child process, so the peak RSS
    /// reported is the decode's alone and not the generator's.
    func runIngest() throws {
        if let archive { return try ingestHere(archive) }
        let count = images ?? 10_000
        let temporary: URL?
        let path: String
        if let writeArchive {
            temporary = nil
            path = writeArchive
        } else {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-bench-ingest-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            temporary = dir
            path = dir.appendingPathComponent("ingest-bench.tar.gz").path
        }
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }
        do {
            try IngestBenchArchive.write(to: path, count: count, side: 64, seed: 0)
        } catch let error as DatasetError {
            throw CLIFailure.rejected(error.description)
        }
        guard runChild(["bench", "ingest", "--archive", path, "--threads", "\(threads)"]) else { throw ExitCode(1) }
    }

    /// Decodes `path` in this process and prints the JSON line.
    private func ingestHere(_ path: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CLIFailure.rejected("\(path): --archive: file not found or not readable; expected a .tar.gz of PNGs")
        }
        Parallel.threads = threads
        let result: (images: Int, imagesPerSecond: Double, peakRSSMB: Double)
        do {
            result = try IngestBench.run(archivePath: path)
        } catch let error as DatasetError {
            throw CLIFailure.rejected(error.description)
        }
        guard result.images > 0 else {
            throw CLIFailure.rejected("\(path): no .png entries; expected an archive of PNG images")
        }
        try printLine(IngestBenchLine(images: result.images, images_per_second: (result.imagesPerSecond * 10).rounded() / 10,
                                      peak_rss_mb: (result.peakRSSMB * 10).rounded() / 10, threads: threads))
    }
}
