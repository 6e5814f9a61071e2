import Foundation
import Tensors

/// Limits for one ingest: the archive limits of DESIGN §9 plus the PNG dimension limit.
public struct IngestLimits: Sendable, Equatable {
    public var archive: ArchiveLimits
    /// Largest accepted PNG width or height.
    public var maxImageSide: Int

    public init(archive: ArchiveLimits = ArchiveLimits(), maxImageSide: Int = 8192) {
        self.archive = archive
        self.maxImageSide = maxImageSide
    }
}

/// All images of a dataset at one square resolution, quantised to UInt8, in table row order.
///
/// Quantising to 8 bits (v · 255, rounded) keeps a 10,000-image 64×64 RGB set at 123 MB instead of 491 MB
/// of Float32; every consumer (DDPM, upsampler, classifier) works at ≤ 8-bit precision anyway.
public struct ImageSet: Sendable, Equatable {
    /// Side length in pixels.
    public let resolution: Int
    /// 1 (every source image gray) or 3 (any colour image; gray images are replicated into R, G, B).
    public let channels: Int
    /// Number of images (= table rows).
    public let count: Int
    /// `count × channels × resolution × resolution` bytes, image-major, planar (CHW) within an image.
    public var pixels: [UInt8]

    public init(resolution: Int, channels: Int, count: Int, pixels: [UInt8]) {
        precondition(pixels.count == count * channels * resolution * resolution, "ImageSet: pixel count mismatch")
        self.resolution = resolution; self.channels = channels; self.count = count; self.pixels = pixels
    }

    /// Bytes per image.
    public var imageBytes: Int { channels * resolution * resolution }

    /// Image `i` as Float32 `[C,R,R]` in [0, 1] (v / 255, correctly rounded, as `PNGCodec.decode` gives).
    public func image(_ i: Int) -> Tensor {
        let n = imageBytes
        var t = Tensor(zeros: [channels, resolution, resolution])
        pixels.withUnsafeBufferPointer { src in
            t.withUnsafeMutableBufferPointer { dst in
                for k in 0..<n { dst[k] = Float(src[i &* n &+ k]) / 255 }
            }
        }
        return t
    }
}

extension ImageSet {
    /// Images `indices` as one Float32 batch `[N,C,R,R]` in [0, 1].
    public func batch(_ indices: [Int]) -> Tensor {
        let n = imageBytes
        var t = Tensor(zeros: [indices.count, channels, resolution, resolution])
        pixels.withUnsafeBufferPointer { src in
            t.withUnsafeMutableBufferPointer { dst in
                for (b, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "ImageSet.batch: index \(i) of \(count)")
                    for k in 0..<n { dst[b &* n &+ k] = Float(src[i &* n &+ k]) / 255 }
                }
            }
        }
        return t
    }
}

/// A validated, decoded drop: the manifest, the table and the images at each resolution.
public struct IngestedDataset: Sendable, Equatable {
    public var manifest: Manifest
    public var table: DatasetTable
    /// One set per resolution, ascending.
    public var images: [ImageSet]

    public init(manifest: Manifest, table: DatasetTable, images: [ImageSet]) {
        self.manifest = manifest; self.table = table; self.images = images
    }

    /// The image set at `resolution`, if ingested.
    public func images(at resolution: Int) -> ImageSet? { images.first { $0.resolution == resolution } }
}

/// Validates the manifest at `manifestPath`, streams the archive beside it once (DESIGN §9 limits),
/// parses the table and decodes every image the table names, resized (bilinear, anti-aliased; square,
/// aspect ratio not kept) to each resolution. `resolutions` empty ⇒ the manifest's base and final
/// resolutions. Throws `DatasetError` naming the file and problem for any bad input.
public func ingestDrop(manifestPath: String, limits: IngestLimits = IngestLimits(), resolutions: [Int] = []) throws -> IngestedDataset {
    let manifest = try Manifest.load(path: manifestPath)
    let archivePath = Manifest.archivePath(manifestPath: manifestPath, archive: manifest.archive)
    return try ingestArchive(manifest: manifest, archivePath: archivePath, limits: limits,
                             resolutions: resolutions.isEmpty ? manifest.resolutions : resolutions)
}

/// The archive half of `ingestDrop`, for a manifest already validated.
public func ingestArchive(manifest: Manifest, archivePath: String, limits: IngestLimits, resolutions: [Int]) throws -> IngestedDataset {
    let resolutions = Array(Set(resolutions)).sorted()
    precondition(!resolutions.isEmpty && resolutions.allSatisfy { $0 >= 1 }, "ingest: resolutions must be positive")
    let reader = ArchiveReader(path: archivePath, limits: limits.archive)
    let decoder = BatchDecoder(file: archivePath, resolutions: resolutions, maxSide: limits.maxImageSide)
    var table: DatasetTable?
    var wanted = Set<String>()
    // Until the table is seen every PNG is decoded (its name may turn up in the table); after that only
    // the named ones are kept. Decode failures are only fatal for images the table references.
    try reader.forEachEntry(keep: { name in
        if name == manifest.table { return true }
        if table != nil { return wanted.contains(name) }
        return name.lowercased().hasSuffix(".png")
    }) { entry in
        if entry.name == manifest.table {
            let t = try DatasetTable.parse(entry.bytes, manifest: manifest, file: archivePath)
            wanted = Set(t.rows.map(\.path))
            table = t
            decoder.forget { !wanted.contains($0) }
        } else {
            decoder.add(entry)
        }
    }
    decoder.finish()
    let decoded = decoder.results
    guard let table else {
        throw DatasetError(.tableMissing, file: archivePath, location: "table", found: "no entry named \(quoted(manifest.table))",
                           expected: "the CSV table named by the manifest inside the archive")
    }
    let imageColumn = manifest.imageColumn
    var channels = 1
    for (i, row) in table.rows.enumerated() {
        guard let result = decoded[row.path] else {
            throw DatasetError(.missingImage, file: archivePath,
                               location: "\(manifest.table) row \(i + 2), column \(quoted(imageColumn))",
                               found: "\(quoted(row.path)), which is not in the archive", expected: "a path of a PNG entry in the archive",
                               row: i + 2, column: imageColumn)
        }
        switch result {
        case .failure(let error): throw error
        case .success(let d): channels = max(channels, d.channels)
        }
    }
    var sets: [ImageSet] = []
    for (ri, r) in resolutions.enumerated() {
        let per = channels * r * r
        var pixels = [UInt8](repeating: 0, count: table.rows.count * per)
        for (i, row) in table.rows.enumerated() {
            guard case .success(let d) = decoded[row.path]! else { continue }
            let plane = r * r
            let src = d.planes[ri]
            for c in 0..<channels {
                let sc = d.channels == 1 ? 0 : c
                let from = sc * plane, to = i * per + c * plane
                pixels.replaceSubrange(to..<(to + plane), with: src[from..<(from + plane)])
            }
        }
        sets.append(ImageSet(resolution: r, channels: channels, count: table.rows.count, pixels: pixels))
    }
    return IngestedDataset(manifest: manifest, table: table, images: sets)
}

/// One decoded image: its native channel count and, per requested resolution, its quantised `[C,R,R]` pixels.
struct DecodedImage: Sendable {
    let channels: Int
    let planes: [[UInt8]]
}

/// Collects PNG entries and decodes them in parallel batches on `Parallel.threads` workers, on a
/// background queue so that decoding overlaps with reading the archive. At most `maxInFlight` batches
/// wait or run at once, so memory stays bounded even when reading outpaces decoding. Each worker writes
/// only its own result slot, so results do not depend on scheduling.
final class BatchDecoder: @unchecked Sendable {
    let file: String
    let resolutions: [Int]
    let maxSide: Int
    static let batchSize = 128
    static let maxInFlight = 2
    private var pending: [ArchiveEntry] = []
    /// Guarded by `lock`; complete after `finish()`.
    private var decoded: [String: Result<DecodedImage, DatasetError>] = [:]
    private let lock = NSLock()
    private let queue = DispatchQueue(label: "fairgen.datasets.decode")
    private let slots = DispatchSemaphore(value: BatchDecoder.maxInFlight)

    init(file: String, resolutions: [Int], maxSide: Int) {
        self.file = file; self.resolutions = resolutions; self.maxSide = maxSide
    }

    /// Queues an entry; a full batch is handed to the decode queue.
    func add(_ entry: ArchiveEntry) {
        pending.append(entry)
        if pending.count >= BatchDecoder.batchSize { submit() }
    }

    /// Drops results and pending entries whose names match `unwanted` (waits for in-flight batches first).
    func forget(_ unwanted: (String) -> Bool) {
        pending.removeAll { unwanted($0.name) }
        queue.sync {}
        lock.lock()
        for name in decoded.keys where unwanted(name) { decoded[name] = nil }
        lock.unlock()
    }

    /// Decodes what is left and waits for every batch.
    func finish() {
        submit()
        queue.sync {}
    }

    /// All results (call after `finish()`).
    var results: [String: Result<DecodedImage, DatasetError>] {
        lock.lock(); defer { lock.unlock() }
        return decoded
    }

    private func submit() {
        if pending.isEmpty { return }
        let batch = pending
        pending = []
        slots.wait()
        queue.async { [self] in
            var out = [Result<DecodedImage, DatasetError>?](repeating: nil, count: batch.count)
            out.withUnsafeMutableBufferPointer { o in
                Parallel.forEach(batch.count, work: .max, minWork: 0) { i in o[i] = decodeOne(batch[i]) }
            }
            lock.lock()
            for (entry, r) in zip(batch, out) { decoded[entry.name] = r! }
            lock.unlock()
            slots.signal()
        }
    }

    private func decodeOne(_ entry: ArchiveEntry) -> Result<DecodedImage, DatasetError> {
        do {
            let raw = try PNGCodec.decodeRaw(entry.bytes, file: file, entry: entry.name, maxSide: maxSide)
            // Same-size 8-bit planes are copied without the Float round trip (bit-identical result).
            var image: Tensor?
            let planes = resolutions.map { r -> [UInt8] in
                if raw.width == r && raw.height == r, let direct = raw.planar8() { return direct }
                if image == nil { image = raw.tensor() }
                let sized = (raw.width == r && raw.height == r) ? image!
                    : ImageResize.bilinear(image!, height: r, width: r, antialias: true)
                return quantise(sized)
            }
            return .success(DecodedImage(channels: raw.outChannels, planes: planes))
        } catch let error as DatasetError {
            return .failure(error)
        } catch {
            return .failure(DatasetError(.pngCorrupt, file: file, location: "entry \(quoted(entry.name))",
                                         found: "\(error)", expected: "a valid PNG"))
        }
    }
}

/// Float32 in [0, 1] → UInt8 (× 255, rounded to nearest, clamped).
func quantise(_ t: Tensor) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: t.count)
    t.withUnsafeBufferPointer { src in
        for i in 0..<src.count {
            let v = (src[i] * 255).rounded()
            out[i] = v >= 255 ? 255 : (v > 0 ? UInt8(v) : 0)
        }
    }
    return out
}
