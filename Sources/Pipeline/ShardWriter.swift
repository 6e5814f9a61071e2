import Datasets
import Foundation
import Store

/// One synthetic image with its labels, as stored in a shard: `NNNNNN.png` + `NNNNNN.json`
/// (WebDataset layout, DESIGN §5).
public struct SyntheticSample: Equatable, Sendable {
    /// Sample number; the entry stem is this number with 6 digits (`000123`).
    public var index: Int
    /// PNG bytes (from `PNGCodec.encode`).
    public var png: [UInt8]
    /// Class name.
    public var label: String
    /// Attribute name → value (e.g. `skin_tone` → `dark`).
    public var attributes: [String: String]
    /// Seed of the sampler for this image (< 2^53 so that JSON keeps it exactly).
    public var seed: UInt64
    /// Classifier-free guidance weight w.
    public var guidance: Double
    /// `fair` (p(y) kept, p(a) uniform) or `translate` (img2img).
    public var strategy: String
    /// The classifier target over the dataset's classes when it is more than `label` says: the soft vector
    /// the image was conditioned on (soft labels), or the 0/1 vector of a multi-label row. nil: `label`'s
    /// one-hot (single labels, and shards written before fair-sample-3).
    public var target: [Float]?
    /// Multi-label: classes whose target is unknown (the template row's uncertain or unknown entries), left
    /// out of the classifier's loss as for real rows.
    public var unknown: [Int]

    public init(index: Int, png: [UInt8], label: String, attributes: [String: String], seed: UInt64,
                guidance: Double, strategy: String, target: [Float]? = nil, unknown: [Int] = []) {
        self.index = index
        self.png = png
        self.label = label
        self.attributes = attributes
        self.seed = seed
        self.guidance = guidance
        self.strategy = strategy
        self.target = target
        self.unknown = unknown
    }

    /// The entry stem: `000123`.
    public var stem: String { String(format: "%06d", index) }

    /// The `.json` entry: canonical JSON `{"attributes":{…},"guidance":…,"label":…,"seed":…,"strategy":…}`,
    /// plus `"target":[…]` (one number per class) and `"unknown":[…]` (class indices) when set.
    public func metadataJSON() throws -> [UInt8] {
        precondition(seed < (1 << 53), "sample seeds must be below 2^53 to survive JSON")
        var members: [String: JSONValue] = [
            "label": .string(label),
            "attributes": .object(attributes.mapValues { .string($0) }),
            "seed": .number(Double(seed)),
            "guidance": .number(guidance),
            "strategy": .string(strategy),
        ]
        // A Float widens to a Double exactly, and the Double's shortest text parses back to the same Float.
        if let target { members["target"] = .array(target.map { .number(Double($0)) }) }
        if !unknown.isEmpty { members["unknown"] = .array(unknown.map { .number(Double($0)) }) }
        return Array(try CanonicalJSON.encode(.object(members)).utf8)
    }
}

/// Writes synthetic samples into uncompressed tar shards (ustar, through libarchive) and puts each
/// finished shard into the store. A shard is closed before a sample would push it over `maxShardBytes`
/// (a sample's two entries always share a shard; a single sample larger than the cap gets its own shard).
///
/// Shard bytes depend only on the samples: every entry has mtime 0, uid/gid 0, no user/group names and
/// mode 0644, so the same samples give the same shard object ids.
public final class ShardWriter {
    /// Default shard size cap (DESIGN: ≤ 1 GiB a shard).
    public static let defaultMaxShardBytes: Int64 = 1 << 30
    /// tar block size: each header and each entry's data is padded to it.
    static let block: Int64 = 512

    public let store: Store
    public let maxShardBytes: Int64
    private let directory: URL
    private var archive: TarWriter?
    private var currentPath: URL?
    private var currentBytes: Int64 = 0
    private var currentSamples = 0
    private var shards: [ObjectID] = []

    /// A writer that builds shard files in `directory` (e.g. a stage's scratch folder).
    public init(store: Store, directory: URL, maxShardBytes: Int64 = ShardWriter.defaultMaxShardBytes) {
        self.store = store
        self.directory = directory
        self.maxShardBytes = maxShardBytes
    }

    deinit {
        archive = nil       // release the writer (and its file handle) before deleting the partial shard
        if let p = currentPath { try? FileManager.default.removeItem(at: p) }
    }

    /// Bytes a sample adds to a tar: two headers plus both payloads padded to 512-byte blocks.
    static func tarBytes(png: Int, json: Int) -> Int64 {
        func padded(_ n: Int) -> Int64 { (Int64(n) + block - 1) / block * block }
        return 2 * block + padded(png) + padded(json)
    }

    /// Appends one sample, rolling to a new shard first when it would not fit under the cap.
    public func append(_ sample: SyntheticSample) throws {
        let json = try sample.metadataJSON()
        let size = ShardWriter.tarBytes(png: sample.png.count, json: json.count)
        // The end-of-archive marker (two zero blocks) also counts against the cap.
        if archive != nil, currentSamples > 0, currentBytes + size + 2 * ShardWriter.block > maxShardBytes {
            try closeShard()
        }
        if archive == nil { try openShard() }
        try writeEntry(name: sample.stem + ".png", bytes: sample.png)
        try writeEntry(name: sample.stem + ".json", bytes: json)
        currentBytes += size
        currentSamples += 1
    }

    /// Closes the last shard and returns every shard's object id, in order.
    public func finish() throws -> [ObjectID] {
        if archive != nil { try closeShard() }
        return shards
    }

    private func openShard() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(String(format: "shard-%05d.tar", shards.count))
        archive = try TarWriter(path: path.path, gzip: false)
        currentPath = path
        currentBytes = 0
        currentSamples = 0
    }

    private func writeEntry(name: String, bytes: [UInt8]) throws {
        guard let archive else { throw PipelineError("shard writer: no open shard") }
        try archive.add(name, bytes)
    }

    private func closeShard() throws {
        guard let tar = archive, let path = currentPath else { return }
        archive = nil
        currentPath = nil
        defer { try? FileManager.default.removeItem(at: path) }
        try tar.close()
        shards.append(try store.objects.put(contentsOf: path))
    }
}

/// Reads shards written by `ShardWriter` back into samples, through the Datasets archive reader (so
/// the usual entry-name, link and size limits apply).
public enum ShardReader {
    /// The samples of one shard object, in archive order. Throws when a `.png` lacks its `.json` (or
    /// the reverse), or when a `.json` is not the expected metadata object.
    public static func read(_ shard: ObjectID, store: Store, limits: ArchiveLimits = ArchiveLimits()) throws -> [SyntheticSample] {
        let path = store.objects.path(for: shard).path
        var pngs: [String: [UInt8]] = [:]
        var metas: [String: [UInt8]] = [:]
        var order: [String] = []
        try ArchiveReader(path: path, limits: limits).forEachEntry { entry in
            let stem = String(entry.name.prefix { $0 != "." })
            if entry.name.hasSuffix(".png") { pngs[stem] = entry.bytes }
            else if entry.name.hasSuffix(".json") { metas[stem] = entry.bytes }
            else { throw PipelineError("shard \(path): unexpected entry \(entry.name) (expected NNNNNN.png / NNNNNN.json)") }
            if !order.contains(stem) { order.append(stem) }
        }
        return try order.map { stem in
            guard let png = pngs[stem], let meta = metas[stem] else {
                throw PipelineError("shard \(path): sample \(stem) needs both \(stem).png and \(stem).json")
            }
            return try decode(stem: stem, png: png, meta: meta, shard: path)
        }
    }

    /// The samples of several shards, concatenated in order.
    public static func read(_ shards: [ObjectID], store: Store, limits: ArchiveLimits = ArchiveLimits()) throws -> [SyntheticSample] {
        try shards.flatMap { try read($0, store: store, limits: limits) }
    }

    private static func decode(stem: String, png: [UInt8], meta: [UInt8], shard: String) throws -> SyntheticSample {
        func bad(_ field: String, _ expected: String) -> PipelineError {
            PipelineError("shard \(shard): \(stem).json field '\(field)': expected \(expected)")
        }
        guard let index = Int(stem) else { throw PipelineError("shard \(shard): entry stem \(stem) is not a number") }
        let value = try JSONValue.parse(meta)
        guard case .string(let label)? = value["label"] else { throw bad("label", "a string") }
        guard case .object(let attrs)? = value["attributes"] else { throw bad("attributes", "an object of strings") }
        var attributes: [String: String] = [:]
        for (k, v) in attrs {
            guard case .string(let s) = v else { throw bad("attributes.\(k)", "a string") }
            attributes[k] = s
        }
        guard case .number(let seed)? = value["seed"], seed >= 0, seed == seed.rounded() else { throw bad("seed", "a non-negative integer") }
        guard case .number(let guidance)? = value["guidance"] else { throw bad("guidance", "a number") }
        guard case .string(let strategy)? = value["strategy"] else { throw bad("strategy", "a string") }
        var target: [Float]? = nil
        if let t = value["target"] {
            guard case .array(let items) = t else { throw bad("target", "an array of non-negative numbers") }
            target = try items.map { item -> Float in
                guard case .number(let x) = item, x.isFinite, x >= 0 else { throw bad("target", "an array of non-negative numbers") }
                return Float(x)
            }
        }
        var unknown: [Int] = []
        if let u = value["unknown"] {
            guard case .array(let items) = u else { throw bad("unknown", "an array of class indices") }
            unknown = try items.map { item -> Int in
                guard case .number(let x) = item, x >= 0, x == x.rounded(), x < Double(ManifestLimits.maxClasses) else {
                    throw bad("unknown", "an array of class indices")
                }
                return Int(x)
            }
        }
        return SyntheticSample(index: index, png: png, label: label, attributes: attributes, seed: UInt64(seed),
                               guidance: guidance, strategy: strategy, target: target, unknown: unknown)
    }
}
