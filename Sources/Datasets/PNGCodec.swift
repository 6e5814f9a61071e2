import CPNG
import Tensors

/// The facts of a PNG's IHDR chunk, read before libpng sees the file.
public struct PNGHeader: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// Bits per sample (1, 2, 4, 8 or 16).
    public var bitDepth: Int
    /// PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    public var colorType: Int
    /// Samples per pixel in the file (1–4; palette counts as 1).
    public var channels: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 0 }
}

/// PNG decode/encode through libpng's simplified API (which reports errors by return code; the classic
/// API's longjmp cannot cross Swift frames).
///
/// Decoding accepts every colour type and bit depth PNG allows: gray at 1, 2, 4, 8 or 16 bits, palette
/// at 1, 2, 4 or 8 bits, and gray+alpha, RGB and RGBA at 8 or 16 bits, with or without a tRNS chunk
/// (pngquant, optipng and many exporters write palette and low-depth gray files). libpng's simplified
/// API expands them: low-depth gray is scaled to 8 bits (1-bit 1 → 255, 2-bit v → 85·v, 4-bit v → 17·v),
/// palette indices become their RGB entries, and tRNS becomes an alpha channel. Output is Float32 in
/// [0, 1], `[1,H,W]` for gray inputs and `[3,H,W]` for colour and palette inputs. Alpha (from the file
/// or from tRNS) is composited onto black (colour × alpha), so transparent regions read as 0 whatever
/// colour they hide. 16-bit files are read through libpng's linear 16-bit path; without a gAMA/sRGB
/// chunk the sample values come through unchanged (v / 65535).
public enum PNGCodec {
    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
    /// Bit depths the PNG standard allows per colour type.
    static let allowedDepths: [Int: Set<Int>] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]

    /// Parses the signature and IHDR (the first 33 bytes) without allocating anything.
    /// `file`/`entry` name the source in errors.
    public static func header(_ bytes: [UInt8], file: String, entry: String) throws -> PNGHeader {
        let location = "entry \(quoted(entry))"
        guard bytes.count >= 33, Array(bytes[0..<8]) == signature,
              bytes[12] == 0x49, bytes[13] == 0x48, bytes[14] == 0x44, bytes[15] == 0x52 else {
            throw DatasetError(.pngCorrupt, file: file, location: location,
                               found: bytes.count < 33 ? "\(bytes.count) bytes, too short for a PNG header" : "no PNG signature and IHDR chunk",
                               expected: "a PNG image")
        }
        func be32(_ i: Int) -> Int {
            Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        }
        return PNGHeader(width: be32(16), height: be32(20), bitDepth: Int(bytes[24]), colorType: Int(bytes[25]))
    }

    /// Decodes PNG bytes to `[C,H,W]` Float32 in [0, 1] (C = 1 for gray, 3 for colour).
    /// The dimension limit is checked from the header before any pixel buffer exists.
    public static func decode(_ bytes: [UInt8], file: String, entry: String, maxSide: Int = 8192) throws -> Tensor {
        try decodeRaw(bytes, file: file, entry: entry, maxSide: maxSide).tensor()
    }

    /// Decodes to libpng's interleaved samples (8-bit, or 16-bit linear and premultiplied when the file is 16-bit).
    static func decodeRaw(_ bytes: [UInt8], file: String, entry: String, maxSide: Int) throws -> RawPNG {
        let location = "entry \(quoted(entry))"
        let h = try header(bytes, file: file, entry: entry)
        guard h.width >= 1, h.height >= 1, h.width <= maxSide, h.height <= maxSide else {
            throw DatasetError(.pngTooLarge, file: file, location: location, found: "a \(h.width)×\(h.height) image",
                               expected: "at most \(maxSide)×\(maxSide) pixels (and at least 1×1)")
        }
        guard PNGCodec.allowedDepths[h.colorType]?.contains(h.bitDepth) == true else {
            let kind = [0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"][h.colorType] ?? "colour type \(h.colorType)"
            throw DatasetError(.pngFormat, file: file, location: location, found: "a \(h.bitDepth)-bit \(kind) PNG",
                               expected: "a PNG colour type and bit depth pair the PNG standard allows (gray 1/2/4/8/16, palette 1/2/4/8, gray+alpha, RGB or RGBA 8/16)")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw corrupt(&image, file: file, location: location) }
        // Trust our own IHDR reading, not a second opinion, for the allocation below.
        guard Int(image.width) == h.width, Int(image.height) == h.height else {
            throw DatasetError(.pngCorrupt, file: file, location: location, found: "inconsistent header",
                               expected: "a valid PNG")
        }
        // libpng describes the file in `format`: COLOR for RGB and palette files, ALPHA for an alpha
        // channel or a tRNS chunk. Asking for that format (without COLORMAP) makes it expand palettes,
        // low-depth gray and tRNS.
        let color = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let alpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let wide = h.bitDepth == 16
        image.format = (color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
            | (wide ? UInt32(PNG_FORMAT_FLAG_LINEAR) : 0)
        var raw = RawPNG(width: h.width, height: h.height, color: color, alpha: alpha, samples8: [], samples16: [])
        let count = h.width * h.height * raw.inChannels
        let ok: Int32
        if wide {
            raw.samples16 = [UInt16](repeating: 0, count: count)
            ok = raw.samples16.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        } else {
            raw.samples8 = [UInt8](repeating: 0, count: count)
            ok = raw.samples8.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw corrupt(&image, file: file, location: location) }
        return raw
    }

    /// Encodes a `[1,H,W]` (gray) or `[3,H,W]` (RGB) image with values in [0, 1] as an 8-bit PNG in
    /// memory; values are scaled by 255, rounded to nearest and clamped.
    public static func encode(_ image: Tensor) throws -> [UInt8] {
        precondition(image.rank == 3 && (image.shape[0] == 1 || image.shape[0] == 3), "encode: [1|3,H,W], got \(image.shape)")
        let c = image.shape[0], h = image.shape[1], w = image.shape[2]
        let pixels = h * w
        var interleaved = [UInt8](repeating: 0, count: pixels * c)
        image.withUnsafeBufferPointer { src in
            for ch in 0..<c {
                for p in 0..<pixels {
                    let v = (src[ch &* pixels &+ p] * 255).rounded()
                    interleaved[p &* c &+ ch] = UInt8(v.isNaN ? 0 : min(255, max(0, v)))
                }
            }
        }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(w)
        png.height = UInt32(h)
        png.format = c == 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
        defer { png_image_free(&png) }
        var size = 0
        let sized = interleaved.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard sized != 0, size > 0 else {
            throw DatasetError(.pngCorrupt, file: "<memory>", location: "", found: "libpng encode failure (\(message(&png)))",
                               expected: "an encodable image")
        }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            interleaved.withUnsafeBytes { png_image_write_to_memory(&png, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard ok != 0 else {
            throw DatasetError(.pngCorrupt, file: "<memory>", location: "", found: "libpng encode failure (\(message(&png)))",
                               expected: "an encodable image")
        }
        return Array(out.prefix(size))
    }

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func corrupt(_ image: inout png_image, file: String, location: String) -> DatasetError {
        DatasetError(.pngCorrupt, file: file, location: location, found: "a truncated or corrupt PNG (\(message(&image)))",
                     expected: "a complete, valid PNG")
    }
}

/// A decoded PNG as libpng returns it: interleaved samples, 8-bit (`samples8`) or 16-bit (`samples16`).
struct RawPNG {
    let width: Int
    let height: Int
    let color: Bool
    let alpha: Bool
    var samples8: [UInt8]
    var samples16: [UInt16]

    var inChannels: Int { (color ? 3 : 1) + (alpha ? 1 : 0) }
    var outChannels: Int { color ? 3 : 1 }

    /// `[C,H,W]` Float32 in [0, 1], alpha composited onto black. (libpng's 16-bit linear output with
    /// alpha is already premultiplied; 8-bit output is not, so it is multiplied here.)
    func tensor() -> Tensor {
        let inC = inChannels, outC = outChannels, pixels = width * height
        var out = Tensor(zeros: [outC, height, width])
        out.withUnsafeMutableBufferPointer { o in
            if !samples16.isEmpty {
                samples16.withUnsafeBufferPointer { r in
                    for c in 0..<outC {
                        let plane = c &* pixels
                        for p in 0..<pixels { o[plane &+ p] = Float(r[p &* inC &+ c]) / 65535 }
                    }
                }
                return
            }
            samples8.withUnsafeBufferPointer { r in
                for c in 0..<outC {
                    let plane = c &* pixels
                    if alpha {
                        let a = inC &- 1
                        for p in 0..<pixels { o[plane &+ p] = Float(r[p &* inC &+ c]) / 255 * (Float(r[p &* inC &+ a]) / 255) }
                    } else {
                        for p in 0..<pixels { o[plane &+ p] = Float(r[p &* inC &+ c]) / 255 }
                    }
                }
            }
        }
        return out
    }

    /// Planar `[C,H,W]` bytes straight from 8-bit samples without alpha (equal to `quantise(tensor())`), else nil.
    func planar8() -> [UInt8]? {
        guard samples16.isEmpty, !alpha else { return nil }
        let c = inChannels, pixels = width * height
        if c == 1 { return samples8 }
        var out = [UInt8](repeating: 0, count: pixels * c)
        out.withUnsafeMutableBufferPointer { o in
            samples8.withUnsafeBufferPointer { r in
                for ch in 0..<c {
                    let plane = ch &* pixels
                    for p in 0..<pixels { o[plane &+ p] = r[p &* c &+ ch] }
                }
            }
        }
        return out
    }
}
