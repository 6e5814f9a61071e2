import Foundation
import Tensors

/// Limits for one ingest: the archive limits of DESIGN §9, the PNG dimension limit and the
/// decoded-pixel budget (docs/manifest.md, "Limits").
///
/// The pixel budget exists because PNG is itself compressed: a 70-byte 1×1 PNG costs 3 MiB once
/// resized to 1024×1024 RGB, so a few-kB archive could otherwise demand gigabytes. Both budgets are
/// charged from each PNG's IHDR (width, height, colour type, bit depth) and the target resolutions
/// *before* anything is decoded or resized, for referenced images only.
public struct IngestLimits: Sendable, Equatable {
    public var archive: ArchiveLimits
    /// Largest accepted PNG width or height.
    public var maxImageSide: Int
    /// Most bytes of full-size decoded pixels over all referenced images of one drop
    /// (width × height × decoded samples per pixel × bytes per sample; see `PixelBudget.decodedBytes`).
    /// This bounds the decode work; those buffers are transient.
    public var maxDecodedBytes: Int64
    /// Most bytes of pixels at the pipeline resolutions over all referenced images of one drop
    /// (Σ over resolutions of rows × channels × r²). This is what the dataset object keeps and what stays
    /// resident during ingest (about twice over, plus the encoded object), so the default of 2 GiB keeps
    /// ingest's peak well inside a 24 GiB machine.
    public var maxResizedBytes: Int64

    public init(archive: ArchiveLimits = ArchiveLimits(), maxImageSide: Int = 8192,
                maxDecodedBytes: Int64 = 64 << 30, maxResizedBytes: Int64 = 2 << 30) {
        self.archive = archive
        self.maxImageSide = maxImageSide
        self.maxDecodedBytes = maxDecodedBytes
        self.maxResizedBytes = maxResizedBytes
    }
}

/// Charges referenced images against `IngestLimits.maxDecodedBytes` and `.maxResizedBytes` from their
/// PNG headers, in archive order (so the entry named in a refusal does not depend on thread timing).
struct PixelBudget {
    let file: String
    let resolutions: [Int]
    let maxDecoded: Int64
    let maxResized: Int64
    let maxSide: Int
    private(set) var decoded: Int64 = 0
    private(set) var resized: Int64 = 0

    init(file: String, resolutions: [Int], limits: IngestLimits) {
        self.file = file; self.resolutions = resolutions
        maxDecoded = limits.maxDecodedBytes; maxResized = limits.maxResizedBytes; maxSide = limits.maxImageSide
    }

    /// Upper bound on libpng's output for this header: one sample per gray pixel, three per colour or
    /// palette pixel, one more for alpha (or a tRNS chunk, which IHDR cannot tell), two bytes per 16-bit sample.
    static func decodedBytes(_ h: PNGHeader) -> Int64 {
        let color = h.colorType == 2 || h.colorType == 3 || h.colorType == 6
        let samples: Int64 = (color ? 3 : 1) + 1
        return Int64(h.width) * Int64(h.height) * samples * (h.bitDepth == 16 ? 2 : 1)
    }

    /// Bytes this image keeps at the pipeline resolutions (channels 1 for gray, 3 otherwise).
    func resizedBytes(_ h: PNGHeader) -> Int64 {
        let channels: Int64 = (h.colorType == 0 || h.colorType == 4) ? 1 : 3
        return resolutions.reduce(Int64(0)) { $0 + channels * Int64($1) * Int64($1) }
    }

    /// Charges one entry. Entries whose header cannot be read, or whose dimensions break `maxImageSide`,
    /// are not charged: decoding refuses them before allocating anything anyway.
    mutating func charge(_ entry: ArchiveEntry) throws {
        guard let h = try? PNGCodec.header(entry.bytes, file: file, entry: entry.name),
              h.width >= 1, h.height >= 1, h.width <= maxSide, h.height <= maxSide else { return }
        let d = PixelBudget.decodedBytes(h), r = resizedBytes(h)
        let location = "entry \(quoted(entry.name))"
        if decoded + d > maxDecoded {
            throw DatasetError(.pixelBudget, file: file, location: location,
                               found: "a \(h.width)×\(h.height) PNG needing \(sizeText(d)) decoded, on top of \(sizeText(decoded)) for the entries before it",
                               expected: "at most \(sizeText(maxDecoded)) of decoded pixels per drop (IngestLimits.maxDecodedBytes)")
        }
        if resized + r > maxResized {
            let at = resolutions.map { "\($0)×\($0)" }.joined(separator: ", ")
            throw DatasetError(.pixelBudget, file: file, location: location,
                               found: "a \(h.width)×\(h.height) PNG needing \(sizeText(r)) at \(at), on top of \(sizeText(resized)) for the entries before it",
                               expected: "at most \(sizeText(maxResized)) of pixels at the pipeline resolutions per drop (IngestLimits.maxResizedBytes)")
        }
        decoded += d
        resized += r
    }

    /// Refuses a table whose rows cannot fit even at one channel per image, as soon as the table is
    /// read (before any image is decoded).
    func checkTable(rows: Int, table: String) throws {
        let least = resolutions.reduce(Int64(0)) { $0 + Int64(rows) * Int64($1) * Int64($1) }
        if least > maxResized {
            let at = resolutions.map { "\($0)×\($0)" }.joined(separator: ", ")
            throw DatasetError(.pixelBudget, file: file, location: table,
                               found: "\(rows) rows at \(at) needing at least \(sizeText(least)) (one channel per image)",
                               expected: "at most \(sizeText(maxResized)) of pixels at the pipeline resolutions per drop (IngestLimits.maxResizedBytes)")
        }
    }

    /// Checks the assembled image sets (`rows × channels × Σ r²`, where gray images become 3-channel
    /// when any image is colour) before they are allocated.
    func checkAssembly(rows: Int, channels: Int) throws {
        let total = resolutions.reduce(Int64(0)) { $0 + Int64(rows) * Int64(channels) * Int64($1) * Int64($1) }
        if total > maxResized {
            throw DatasetError(.pixelBudget, file: file, location: "images",
                               found: "\(rows) images × \(channels) channels at \(resolutions.map(String.init).joined(separator: ", ")) px = \(sizeText(total))",
                               expected: "at most \(sizeText(maxResized)) of pixels at the pipeline resolutions per drop (IngestLimits.maxResizedBytes)")
        }
    }
}

/// `1.5 MiB`-style size with one decimal, for budget messages (exact counts are not what a user needs).
func sizeText(_ n: Int64) -> String {
    if n % (1 << 20) == 0 || n < 1 << 10 { return byteText(n) }
    let units: [(Int64, String)] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
    for (size, unit) in units where n >= size { return String(format: "%.1f", Double(n) / Double(size)) + " " + unit }
    return "\(n) bytes"
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
    var stats = IngestStats()
    return try ingestArchive(manifest: manifest, archivePath: archivePath, limits: limits, resolutions: resolutions, stats: &stats)
}

/// What one ingest spent (for tests and benchmarks).
struct IngestStats {
    /// PNGs handed to the decoder (referenced entries only).
    var decodedImages = 0
    /// Bytes charged to `IngestLimits.maxDecodedBytes` / `.maxResizedBytes`.
    var decodedBytes: Int64 = 0
    var resizedBytes: Int64 = 0
}

/// `ingestArchive`, reporting what was decoded in `stats`.
func ingestArchive(manifest: Manifest, archivePath: String, limits: IngestLimits, resolutions: [Int],
                   stats: inout IngestStats) throws -> IngestedDataset {
    let resolutions = Array(Set(resolutions)).sorted()
    precondition(!resolutions.isEmpty && resolutions.allSatisfy { $0 >= 1 }, "ingest: resolutions must be positive")
    let reader = ArchiveReader(path: archivePath, limits: limits.archive)
    let decoder = BatchDecoder(file: archivePath, resolutions: resolutions, maxSide: limits.maxImageSide)
    var budget = PixelBudget(file: archivePath, resolutions: resolutions, limits: limits)
    var table: DatasetTable?
    var wanted = Set<String>()
    // PNGs that come before the table are held encoded (their archive bytes, already counted by the
    // archive limits) until the table says which ones it references; only those are charged to the
    // pixel budget and decoded. After the table, unreferenced entries are not even kept.
    var early: [ArchiveEntry] = []
    func admit(_ entry: ArchiveEntry) throws {
        try budget.charge(entry)
        decoder.add(entry)
    }
    try reader.forEachEntry(keep: { name in
        if name == manifest.table { return true }
        if table != nil { return wanted.contains(name) }
        return name.lowercased().hasSuffix(".png")
    }) { entry in
        if entry.name == manifest.table {
            let t = try DatasetTable.parse(entry.bytes, manifest: manifest, file: archivePath)
            try budget.checkTable(rows: t.rows.count, table: manifest.table)
            wanted = Set(t.rows.map(\.path))
            table = t
            for held in early where wanted.contains(held.name) { try admit(held) }
            early = []
        } else if table == nil {
            early.append(entry)
        } else {
            try admit(entry)
        }
    }
    decoder.finish()
    stats.decodedImages = decoder.decodedCount
    stats.decodedBytes = budget.decoded
    stats.resizedBytes = budget.resized
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
    try budget.checkAssembly(rows: table.rows.count, channels: channels)
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
    /// Entries handed to `add` (not forgotten ones).
    private(set) var decodedCount = 0
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
        decodedCount += 1
        pending.append(entry)
        if pending.count >= BatchDecoder.batchSize { submit() }
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
                    : ImageOps.resizeBilinear(image!, height: r, width: r, antialias: true)
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
