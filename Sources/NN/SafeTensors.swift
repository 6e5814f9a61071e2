import Foundation
import Tensors
import Text

// safetensors (https://github.com/huggingface/safetensors) layout:
//   [0, 8)            u64 little-endian N = byte length of the JSON header
//   [8, 8+N)          UTF-8 JSON object: name → {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//                     plus an optional "__metadata__": {string: string}; padded with spaces
//   [8+N, EOF)        the data buffer; offsets are relative to its start, little-endian, C order
// Writers here emit only F32, tensors in the order given, back to back, header padded to a multiple of
// 8 bytes (so F32 data is aligned). Readers accept F32/F64/F16/BF16/I64/I32/I16/I8/U8/BOOL and convert
// to Float, so PyTorch-written fixtures of any common dtype decode.

/// A decoded safetensors file: every tensor as Float32, in file order, plus the string metadata.
public struct SafeTensorsFile: Sendable {
    /// Tensors by name.
    public var tensors: [String: Tensor]
    /// Tensor names in file order (ascending data offset).
    public var names: [String]
    /// The `__metadata__` string map (empty when absent).
    public var metadata: [String: String]
    /// The dtype each tensor had in the file (e.g. "F32", "F64"), by name.
    public var dtypes: [String: String]

    public init(tensors: [String: Tensor], names: [String], metadata: [String: String], dtypes: [String: String] = [:]) {
        self.tensors = tensors
        self.names = names
        self.metadata = metadata
        self.dtypes = dtypes
    }

    /// The tensor called `name`, or an error naming the file and the missing tensor.
    public func tensor(_ name: String, shape: [Int]? = nil, source: String = "<memory>") throws -> Tensor {
        guard let t = tensors[name] else {
            throw SafeTensorsError(source: source, tensor: name, reason: "tensor is missing")
        }
        if let shape, t.shape != shape {
            throw SafeTensorsError(source: source, tensor: name, reason: "shape \(t.shape), expected \(shape)")
        }
        return t
    }
}

/// A malformed or unreadable safetensors file. `description` names the file, the tensor (when one is
/// at fault) and what was expected.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The file path (or "<memory>").
    public var source: String
    /// The tensor at fault, if any.
    public var tensor: String?
    /// What is wrong.
    public var reason: String

    public init(source: String, tensor: String? = nil, reason: String) {
        self.source = source
        self.tensor = tensor
        self.reason = reason
    }

    /// Rendered with `UntrustedText.terminal`: tensor names and paths come from the file.
    public var description: String {
        if let tensor { return UntrustedText.terminal("\(source): safetensors tensor '\(tensor)': \(reason)") }
        return UntrustedText.terminal("\(source): safetensors: \(reason)")
    }
}

/// Reading and writing safetensors files (Float32 tensors + string metadata).
public enum SafeTensors {
    /// Largest JSON header accepted (the reference implementation's limit): larger ones are rejected
    /// before any allocation, so a corrupt length field cannot exhaust memory.
    public static let maxHeaderBytes = 100_000_000

    /// Element byte sizes of the dtypes this reader understands.
    static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    ]

    // MARK: encode

    /// Serialises `tensors` (as F32, in the given order) and `metadata` into safetensors bytes.
    /// The output is a pure function of the arguments (metadata keys are sorted), so it is reproducible.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) -> [UInt8] {
        var seen = Set<String>()
        for (name, _) in tensors {
            precondition(name != "__metadata__", "safetensors: '__metadata__' is reserved")
            precondition(seen.insert(name).inserted, "safetensors: duplicate tensor name '\(name)'")
        }
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(UntrustedText.jsonString($0)):\(UntrustedText.jsonString(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for (name, t) in tensors {
            let bytes = t.count * 4
            if !first { json += "," }
            first = false
            let shape = t.shape.map(String.init).joined(separator: ",")
            json += "\(UntrustedText.jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        json += "}"
        var header = Array(json.utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) } // pad with spaces, as the reference does
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for (_, t) in tensors {
            #if _endian(little)
            t.withUnsafeBufferPointer { out.append(contentsOf: UnsafeRawBufferPointer($0)) }
            #else
            for v in t.data { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            #endif
        }
        return out
    }

    // MARK: decode

    /// Parses safetensors bytes. Every structural problem (short file, header length beyond the file,
    /// bad JSON, unknown dtype, shape/byte-count mismatch, offsets out of range, overlapping or with
    /// gaps) throws a `SafeTensorsError` naming `source` and the tensor.
    public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> SafeTensorsFile {
        func fail(_ reason: String, _ tensor: String? = nil) -> SafeTensorsError {
            SafeTensorsError(source: source, tensor: tensor, reason: reason)
        }
        guard bytes.count >= 8 else {
            throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw fail("header length \(n) exceeds the \(maxHeaderBytes)-byte limit (corrupt or not a safetensors file)")
        }
        let headerLen = Int(n)
        guard headerLen >= 2 else { throw fail("header length \(headerLen) is too small for a JSON object") }
        guard 8 + headerLen <= bytes.count else {
            throw fail("header length \(headerLen) runs past the end of the \(bytes.count)-byte file (truncated?)")
        }
        let headerBytes = Data(bytes[8..<(8 + headerLen)])
        guard bytes[8] == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: headerBytes, options: [])
        } catch {
            throw fail("header is not valid JSON (\(error.localizedDescription))")
        }
        guard let header = parsed as? [String: Any] else { throw fail("header is not a JSON object") }

        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let dict = m as? [String: Any] else { throw fail("__metadata__ is not an object of strings") }
            for k in dict.keys.sorted() {
                guard let s = dict[k] as? String else { throw fail("__metadata__ value for '\(k)' is not a string") }
                metadata[k] = s
            }
        }

        struct Entry { var name: String; var dtype: String; var shape: [Int]; var begin: Int; var end: Int }
        let dataStart = 8 + headerLen
        let dataCount = bytes.count - dataStart
        var entries: [Entry] = []
        // Sorted so that, with several faults, the same one is always reported.
        for name in header.keys.sorted() where name != "__metadata__" {
            guard let info = header[name] as? [String: Any] else { throw fail("entry is not an object", name) }
            guard let dtype = info["dtype"] as? String else { throw fail("missing or non-string \"dtype\"", name) }
            guard let size = dtypeSizes[dtype] else {
                throw fail("unsupported dtype \(dtype) (expected one of \(dtypeSizes.keys.sorted().joined(separator: ", ")))", name)
            }
            guard let shape = intArray(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("\"shape\" must be an array of non-negative integers", name)
            }
            guard let offsets = intArray(info["data_offsets"]), offsets.count == 2 else {
                throw fail("\"data_offsets\" must be [begin, end] integers", name)
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataCount else {
                throw fail("data_offsets [\(begin), \(end)] out of range for the \(dataCount)-byte data buffer (truncated file?)", name)
            }
            var elements = 1
            for d in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("shape \(shape) overflows", name) }
                elements = p
            }
            let (expectedBytes, o) = elements.multipliedReportingOverflow(by: size)
            guard !o, expectedBytes == end - begin else {
                throw fail("shape \(shape) of \(dtype) needs \(elements) × \(size) bytes but data_offsets span \(end - begin)", name)
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // File order = data order; the buffer must be covered exactly once (as the reference checks).
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        for e in entries {
            if e.begin < cursor {
                throw fail("data_offsets [\(e.begin), \(e.end)] overlap the previous tensor (which ends at \(cursor))", e.name)
            }
            if e.begin > cursor {
                throw fail("data_offsets begin at \(e.begin) but the previous tensor ends at \(cursor) (gap in data buffer)", e.name)
            }
            cursor = e.end
        }
        if cursor != dataCount {
            throw fail("tensors cover \(cursor) bytes but the data buffer holds \(dataCount) (trailing bytes or truncated file)")
        }

        var tensors: [String: Tensor] = [:]
        var dtypes: [String: String] = [:]
        bytes.withUnsafeBytes { raw in
            for e in entries {
                let src = UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.begin)..<(dataStart + e.end)])
                tensors[e.name] = Tensor(shape: e.shape, data: convert(src, dtype: e.dtype))
                dtypes[e.name] = e.dtype
            }
        }
        return SafeTensorsFile(tensors: tensors, names: entries.map(\.name), metadata: metadata, dtypes: dtypes)
    }

    /// Integer array from a JSON value (rejects fractions, strings and nested values).
    private static func intArray(_ v: Any?) -> [Int]? {
        guard let a = v as? [Any] else { return nil }
        var r: [Int] = []
        for x in a {
            guard let num = x as? NSNumber else { return nil }
            let d = num.doubleValue
            guard d.rounded() == d, Swift.abs(d) < 9.0e15 else { return nil }
            r.append(num.intValue)
        }
        return r
    }

    /// Little-endian elements of `dtype` → Float.
    static func convert(_ src: UnsafeRawBufferPointer, dtype: String) -> [Float] {
        let size = dtypeSizes[dtype]!
        let count = src.count / size
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            switch dtype {
            case "F32":
                #if _endian(little)
                UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
                #else
                for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                #endif
            case "F64":
                for i in 0..<count {
                    dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            case "F16":
                for i in 0..<count { dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case "BF16":
                for i in 0..<count {
                    let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    dst[i] = Float(bitPattern: UInt32(h) << 16)
                }
            case "I64":
                for i in 0..<count { dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case "I32":
                for i in 0..<count { dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case "I16":
                for i in 0..<count { dst[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            case "I8":
                for i in 0..<count { dst[i] = Float(Int8(bitPattern: src[i])) }
            case "U8":
                for i in 0..<count { dst[i] = Float(src[i]) }
            case "BOOL":
                for i in 0..<count { dst[i] = src[i] != 0 ? 1 : 0 }
            default:
                preconditionFailure("unreachable dtype \(dtype)")
            }
        }
        return out
    }

    /// IEEE binary16 → binary32 (exact; handles subnormals, infinities and NaN).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1F)
        let mant = UInt32(h & 0x3FF)
        if exp == 0 {
            // ±0 or subnormal: mant · 2⁻²⁴
            let v = Float(mant) * (1.0 / 16_777_216.0)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | (UInt32(exp - 15 + 127) << 23) | (mant << 13))
    }

    // MARK: files

    /// Reads and decodes the safetensors file at `path`.
    public static func read(path: String) throws -> SafeTensorsFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SafeTensorsError(source: path, reason: "cannot read file (\(error.localizedDescription))")
        }
        return try decode([UInt8](data), source: path)
    }

    /// Writes `tensors` and `metadata` to `path` atomically: a temporary file in the same directory is
    /// written, fsync'ed and renamed over `path` (then the directory is fsync'ed), so a crash leaves
    /// either the old file or the complete new one, never a torn checkpoint.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             to path: String) throws {
        let bytes = encode(tensors, metadata: metadata)
        try writeAtomically(bytes, to: path)
    }

    /// temp file + fsync + rename + directory fsync.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        func fail(_ what: String) -> SafeTensorsError {
            SafeTensorsError(source: path, reason: "\(what) failed: \(String(cString: strerror(errno)))")
        }
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("creating temporary file \(tmp)") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            defer { close(fd) }
            var written = 0
            try bytes.withUnsafeBytes { raw in
                while written < raw.count {
                    let r = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                    if r < 0 {
                        if errno == EINTR { continue }
                        throw fail("writing \(tmp)")
                    }
                    written += r
                }
            }
            guard fsync(fd) == 0 else { throw fail("fsync of \(tmp)") }
        }
        guard rename(tmp, path) == 0 else { throw fail("renaming \(tmp) to \(path)") }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}
