import Foundation

/// The binary form of an `IngestedDataset`, stored as one content-addressed object (docs/dataset-object.md).
///
/// ```
/// offset  size  field
/// 0       4     magic "FGDS"
/// 4       4     format version, UInt32 little-endian (2; version 1 — dense label vectors per row — is still read)
/// 8       8     header length H, UInt64 little-endian
/// 16      H     header: canonical JSON (UTF-8, sorted keys, no whitespace)
/// 16+H    …     pixel planes, one block per resolution in header order (ascending), UInt8
/// ```
/// The encoding is a pure function of the dataset (sorted JSON keys, fixed order, no timestamps), so
/// the SHA-256 of the bytes is a stable object id.
public enum DatasetObject {
    public static let magic: [UInt8] = Array("FGDS".utf8)
    /// 2: table rows store their label sparsely (`TableRow`'s compact form); 1 stored dense vectors.
    public static let version: UInt32 = 2

    /// Describes one pixel block of the payload.
    struct ImageBlock: Codable, Equatable {
        var resolution: Int
        var channels: Int
        var count: Int
        /// Byte offset from the start of the payload (just after the header).
        var offset: Int
        var length: Int
    }

    struct Header: Codable {
        var format: String
        var manifest: Manifest
        var table: DatasetTable
        var images: [ImageBlock]
    }

    /// Serialises a dataset (deterministic bytes).
    public static func encode(_ d: IngestedDataset) -> [UInt8] {
        var blocks: [ImageBlock] = []
        var offset = 0
        for set in d.images {
            blocks.append(ImageBlock(resolution: set.resolution, channels: set.channels, count: set.count,
                                     offset: offset, length: set.pixels.count))
            offset += set.pixels.count
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Plain structs of strings, numbers and enums: encoding cannot fail.
        let header = try! encoder.encode(Header(format: "fairgen-dataset", manifest: d.manifest, table: d.table, images: blocks))
        var out: [UInt8] = []
        out.reserveCapacity(16 + header.count + offset)
        out += magic
        appendLE(&out, UInt64(version), bytes: 4)
        appendLE(&out, UInt64(header.count), bytes: 8)
        out += header
        for set in d.images { out += set.pixels }
        return out
    }

    /// Parses bytes written by `encode`, checking magic, version and every length. `name` labels errors.
    public static func decode(_ bytes: [UInt8], name: String = "dataset object") throws -> IngestedDataset {
        func bad(_ found: String, _ expected: String) -> DatasetError {
            DatasetError(.badObject, file: name, location: "", found: found, expected: expected)
        }
        guard bytes.count >= 16, Array(bytes[0..<4]) == magic else { throw bad("no FGDS magic", "a fairgen dataset object") }
        let v = readLE(bytes, at: 4, bytes: 4)
        guard v == 1 || v == UInt64(version) else { throw bad("format version \(v)", "version 1 or \(version)") }
        let headerLength = readLE(bytes, at: 8, bytes: 8)
        guard headerLength <= UInt64(bytes.count - 16) else { throw bad("a header length past the end", "a complete object") }
        let payloadStart = 16 + Int(headerLength)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[16..<payloadStart]))
        } catch {
            throw bad("an unreadable header (\(error))", "the JSON header of format version \(version)")
        }
        guard header.format == "fairgen-dataset" else { throw bad("format \(quoted(header.format))", "\"fairgen-dataset\"") }
        let payload = bytes.count - payloadStart
        var sets: [ImageSet] = []
        var expectedOffset = 0
        for b in header.images {
            guard b.resolution >= 1, b.channels == 1 || b.channels == 3, b.count == header.table.rows.count,
                  b.offset == expectedOffset, b.length == b.count * b.channels * b.resolution * b.resolution,
                  b.offset + b.length <= payload else {
                throw bad("an inconsistent image block at resolution \(b.resolution)", "blocks matching the table and the payload")
            }
            let from = payloadStart + b.offset
            sets.append(ImageSet(resolution: b.resolution, channels: b.channels, count: b.count,
                                 pixels: Array(bytes[from..<(from + b.length)])))
            expectedOffset += b.length
        }
        guard expectedOffset == payload else { throw bad("\(payload - expectedOffset) trailing bytes", "no bytes after the pixel blocks") }
        return IngestedDataset(manifest: header.manifest, table: header.table, images: sets)
    }
}

extension IngestedDataset {
    /// `DatasetObject.encode(self)`.
    public func encode() -> [UInt8] { DatasetObject.encode(self) }
    /// `DatasetObject.decode(bytes)`.
    public static func decode(_ bytes: [UInt8]) throws -> IngestedDataset { try DatasetObject.decode(bytes) }
}

private func appendLE(_ out: inout [UInt8], _ value: UInt64, bytes: Int) {
    for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
}

private func readLE(_ b: [UInt8], at offset: Int, bytes: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<bytes { v |= UInt64(b[offset + i]) << (8 * UInt64(i)) }
    return v
}
