import Datasets
import Foundation
import Testing
@testable import Pipeline
import Store
import Tensors

/// `count` small RGB samples with distinct pixels and metadata.
func makeSamples(_ count: Int, side: Int = 8) throws -> [SyntheticSample] {
    try (0..<count).map { i in
        let data = (0..<(3 * side * side)).map { Float(($0 * 7 + i * 13) % 256) / 255 }
        let png = try PNGCodec.encode(Tensor(shape: [3, side, side], data: data))
        return SyntheticSample(index: i, png: png, label: i % 2 == 0 ? "melanoma" : "eczema \"rash\"",
                               attributes: ["skin_tone": ["dark", "medium", "light"][i % 3], "sex": "f"],
                               seed: UInt64(1000 + i), guidance: 2.5, strategy: "fair")
    }
}

@Test func shardRoundTripKeepsImagesAndMetadata() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    let samples = try makeSamples(5)
    let writer = ShardWriter(store: tmp.store, directory: tmp.url.appendingPathComponent("tmp/shards"))
    for s in samples { try writer.append(s) }
    let shards = try writer.finish()
    #expect(shards.count == 1)
    let back = try ShardReader.read(shards, store: tmp.store)
    #expect(back == samples)
    // WebDataset layout: NNNNNN.png then NNNNNN.json, in order.
    var names: [String] = []
    try ArchiveReader(path: tmp.store.objects.path(for: shards[0]).path).forEachEntry { names.append($0.name) }
    #expect(names.prefix(4) == ["000000.png", "000000.json", "000001.png", "000001.json"])
    // The PNG decodes to the image written.
    let image = try PNGCodec.decode(back[3].png, file: "shard", entry: "000003.png")
    #expect(image.shape == [3, 8, 8])
    // The shard file is gone from the scratch folder once stored.
    #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.url.appendingPathComponent("tmp/shards").path).isEmpty)
}

@Test func shardsRollAtTheSizeCap() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    let samples = try makeSamples(7)
    let perSample = ShardWriter.tarBytes(png: samples[0].png.count, json: try samples[0].metadataJSON().count)
    // Room for two samples (plus the end marker) but not three.
    let cap = 2 * perSample + 1024 + 100
    let writer = ShardWriter(store: tmp.store, directory: tmp.url.appendingPathComponent("tmp/s"), maxShardBytes: cap)
    for s in samples { try writer.append(s) }
    let shards = try writer.finish()
    #expect(shards.count == 4)
    for id in shards { #expect((tmp.store.objects.size(of: id) ?? .max) <= cap) }
    let counts = try shards.map { try ShardReader.read($0, store: tmp.store).count }
    #expect(counts == [2, 2, 2, 1])
    #expect(try ShardReader.read(shards, store: tmp.store) == samples)
}

@Test func shardBytesAreDeterministic() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    let samples = try makeSamples(3)
    func write() throws -> [ObjectID] {
        let w = ShardWriter(store: tmp.store, directory: tmp.url.appendingPathComponent("tmp/\(UUID().uuidString)"))
        for s in samples { try w.append(s) }
        return try w.finish()
    }
    let first = try write()
    Thread.sleep(forTimeInterval: 1.1)  // a different wall-clock second must not change the bytes
    #expect(try write() == first)
    var changed = samples
    changed[1].guidance = 3
    let w = ShardWriter(store: tmp.store, directory: tmp.url.appendingPathComponent("tmp/x"))
    for s in changed { try w.append(s) }
    #expect(try w.finish() != first)
    // The tar header fields: mode 0644, uid/gid 0, mtime 0 (octal fields of the ustar header).
    let bytes = try tmp.store.objects.read(first[0])
    func field(_ offset: Int, _ length: Int) -> String {
        String(decoding: bytes[offset..<(offset + length)].prefix { $0 != 0 && $0 != 0x20 }, as: UTF8.self)
    }
    #expect(Int(field(100, 8), radix: 8) == 0o644)
    #expect(Int(field(108, 8), radix: 8) == 0)
    #expect(Int(field(116, 8), radix: 8) == 0)
    #expect(Int(field(136, 12), radix: 8) == 0)
    #expect(bytes.count % 512 == 0)
}

@Test func readerRejectsAnUnpairedEntry() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    var sample = try makeSamples(1)[0]
    sample.label = "x"
    let w = ShardWriter(store: tmp.store, directory: tmp.url.appendingPathComponent("tmp/y"))
    try w.append(sample)
    let shard = try w.finish()[0]
    // Drop the .json entry by truncating the tar after the PNG (header + padded data) and closing it.
    var bytes = try tmp.store.objects.read(shard)
    let pngEnd = 512 + (sample.png.count + 511) / 512 * 512
    bytes = Array(bytes[0..<pngEnd]) + [UInt8](repeating: 0, count: 1024)
    let broken = try tmp.store.objects.put(bytes)
    #expect(throws: PipelineError.self) { try ShardReader.read(broken, store: tmp.store) }
}
