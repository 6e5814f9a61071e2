import Foundation
import Testing
import Tensors
@testable import Datasets

let fixturesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

/// Formulas of Tests/Fixtures/png/make_png_fixtures.py (5 wide, 4 high).
private func sample8(_ c: Int, _ y: Int, _ x: Int) -> Double {
    let v: Int = (x * 37 + y * 11 + c * 71) % 256
    return Double(v) / 255
}
private func alpha8(_ y: Int, _ x: Int) -> Double {
    let v: Int = (x * 53 + y * 29 + 40) % 256
    return Double(v) / 255
}
private func sample16(_ c: Int, _ y: Int, _ x: Int) -> Double {
    let v: Int = (x * 4099 + y * 257 + c * 11111) % 65536
    return Double(v) / 65535
}
private func alpha16(_ y: Int, _ x: Int) -> Double {
    let v: Int = (x * 9001 + y * 3001 + 5000) % 65536
    return Double(v) / 65535
}

@Suite struct PNGCodecTests {
    @Test(arguments: ["gray8", "ga8", "rgb8", "rgba8", "gray16", "ga16", "rgb16", "rgba16"])
    func decodesEveryColorTypeAndDepth(name: String) throws {
        let bytes = [UInt8](try Data(contentsOf: fixturesDir.appendingPathComponent("png/\(name).png")))
        let image = try PNGCodec.decode(bytes, file: "fixtures", entry: name)
        let color = name.hasPrefix("rgb"), alpha = name.hasPrefix("ga") || name.hasPrefix("rgba"), wide = name.hasSuffix("16")
        #expect(image.shape == [color ? 3 : 1, 4, 5])
        var errors: [Double] = []
        for c in 0..<image.shape[0] {
            for y in 0..<4 {
                for x in 0..<5 {
                    var v = wide ? sample16(c, y, x) : sample8(c, y, x)
                    if alpha { v *= wide ? alpha16(y, x) : alpha8(y, x) }  // composited onto black
                    errors.append(abs(Double(image[c, y, x]) - v))
                }
            }
        }
        let worst = worstError(errors)
        // 8-bit: exact up to Float rounding; 16-bit with alpha: libpng premultiplies in 16-bit integers.
        #expect(worst < (alpha && wide ? 2.0 / 65535 : 1e-6), "worst difference \(worst)")
    }

    @Test(arguments: [1, 3])
    func encodeDecodeRoundTripIsExact(channels: Int) throws {
        let image = DropBuilder.pattern(channels: channels, height: 7, width: 9, seed: 3)
        let png = try PNGCodec.encode(image)
        #expect(try PNGCodec.header(png, file: "m", entry: "e") == PNGHeader(width: 9, height: 7, bitDepth: 8, colorType: channels == 3 ? 2 : 0))
        let back = try PNGCodec.decode(png, file: "m", entry: "e")
        #expect(back == image)
    }

    @Test func encodeRoundsAndClamps() throws {
        let image = Tensor(shape: [1, 1, 4], data: [-0.5, 0.5 / 255, 1.6 / 255, 2])
        let back = try PNGCodec.decode(try PNGCodec.encode(image), file: "m", entry: "e")
        #expect(back.data == [0, 1 / 255, 2 / 255, 1])
    }

    @Test func hugeDeclaredDimensionsAreRejectedBeforeAllocation() {
        let png = DropBuilder.pngDeclaring(width: 100_000, height: 100_000)
        #expect(DropBuilder.crc32(Array("IEND".utf8)) == 0xAE42_6082)  // the helper's CRC is the PNG CRC
        do { _ = try PNGCodec.decode(png, file: "drop.tar.gz", entry: "img/huge.png"); Issue.record("accepted") } catch let e as DatasetError {
            #expect(e.code == .pngTooLarge)
            #expect(e.description == "drop.tar.gz: entry \"img/huge.png\": found a 100000×100000 image, expected at most 8192×8192 pixels (and at least 1×1)")
        } catch { Issue.record("\(error)") }
        // A configurable limit, and a tall-thin image.
        #expect(throws: DatasetError.self) { try PNGCodec.decode(DropBuilder.pngDeclaring(width: 1, height: 9000), file: "f", entry: "e") }
        #expect(throws: DatasetError.self) { try PNGCodec.decode(DropBuilder.pngDeclaring(width: 65, height: 8), file: "f", entry: "e", maxSide: 64) }
    }

    @Test func truncatedAndCorruptPNGsNameTheEntry() throws {
        var big = Tensor(zeros: [3, 40, 40])
        for i in 0..<big.count { big.data[i] = Float((i * 7919) % 256) / 255 }
        let png = try PNGCodec.encode(big)
        for cut in [png.count / 2, 40, 20] {
            do { _ = try PNGCodec.decode(Array(png.prefix(cut)), file: "d.tar", entry: "img/t.png"); Issue.record("accepted cut \(cut)") }
            catch let e as DatasetError {
                #expect(e.code == .pngCorrupt && e.description.hasPrefix("d.tar: entry \"img/t.png\": found"))
            }
        }
        var flipped = png
        for i in 60..<80 { flipped[i] ^= 0xFF }
        #expect(throws: DatasetError.self) { try PNGCodec.decode(flipped, file: "d.tar", entry: "img/t.png") }
        #expect(throws: DatasetError.self) { try PNGCodec.decode(Array("GIF89a not a png at all, not at all".utf8), file: "d", entry: "e") }
    }

    /// Palette (1/2/4/8-bit, with and without tRNS), 1/2/4-bit gray and colour-key tRNS at 8 and 16 bits,
    /// against the values Tests/Fixtures/png/make_png_expand_fixtures.py computed independently.
    @Test(arguments: ["gray1", "gray2", "gray4", "palette1", "palette2", "palette4", "palette8", "palette4_trns",
                      "palette8_trns", "gray8_trns", "gray16_trns", "rgb8_trns", "rgb16_trns"])
    func decodesPaletteLowDepthAndTransparencyKey(name: String) throws {
        let expected = try ExpandFixtures.load()
        let fixture = try #require(expected.fixtures[name], "no expected values for \(name)")
        let bytes = [UInt8](try Data(contentsOf: fixturesDir.appendingPathComponent("png/\(name).png")))
        let image = try PNGCodec.decode(bytes, file: "fixtures", entry: name)
        #expect(image.shape == [fixture.channels, expected.height, expected.width])
        let worst = zip(image.data, fixture.values).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(image.count == fixture.values.count)
        // Exact up to Float rounding (libpng's 16-bit path multiplies by an alpha of exactly 0 or 65535 here).
        #expect(worst < 1e-6, "worst difference \(worst)")
    }

    /// Colour type / bit depth pairs the PNG standard forbids are refused before libpng sees them.
    @Test func forbiddenDepthForColourTypeIsRefused() {
        for (colorType, depth, kind) in [(3, 16, "16-bit palette"), (2, 4, "4-bit RGB"), (6, 1, "1-bit RGBA"), (0, 3, "3-bit gray")] {
            var png = DropBuilder.pngDeclaring(width: 4, height: 4)
            png[24] = UInt8(depth); png[25] = UInt8(colorType)  // CRC no longer matters: our header check runs first
            do { _ = try PNGCodec.decode(png, file: "d", entry: "p.png"); Issue.record("accepted \(kind)") } catch let e as DatasetError {
                #expect(e.code == .pngFormat && e.description.contains(kind), "\(e)")
            } catch { Issue.record("\(error)") }
        }
    }
}

/// Tests/Fixtures/png/expand_expected.json.
private struct ExpandFixtures: Decodable {
    struct Fixture: Decodable { let channels: Int; let values: [Double] }
    let width: Int
    let height: Int
    let fixtures: [String: Fixture]

    static func load() throws -> ExpandFixtures {
        try JSONDecoder().decode(ExpandFixtures.self, from: Data(contentsOf: fixturesDir.appendingPathComponent("png/expand_expected.json")))
    }
}

@Suite struct ImageResizeParityTests {
    static let input: [Float] = [0.0, 0.7, 0.3, 1.0, 0.6, 0.2, 0.9, 0.5, 0.1, 0.8, 0.4, 0.0, 0.7, 0.3, 1.0, 0.6, 0.2, 0.9,
                                 0.5, 0.1, 0.8, 0.4, 0.0, 0.7, 0.3, 1.0, 0.6, 0.2, 0.9, 0.5, 0.1, 0.8, 0.4, 0.0, 0.7]

    /// `ImageOps.resizeBilinear` (Tensors) as ingest uses it, against
    /// `F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=aa)`,
    /// PyTorch 2.x, x = the 5×7 input above.
    @Test(arguments: [
        (3, 4, true, [0.326531, 0.564, 0.469143, 0.530612, 0.569312, 0.485778, 0.512444, 0.462434, 0.498639, 0.406857, 0.557143, 0.395918] as [Float]),
        (3, 4, false, [0.291667, 0.508333, 0.45, 0.575, 0.85, 0.2875, 0.55, 0.5375, 0.583333, 0.341667, 0.604167, 0.408333]),
        (2, 3, true, [0.439286, 0.535294, 0.460714, 0.464286, 0.529412, 0.446429]),
        (8, 9, false, [0.0, 0.466667, 0.522222, 0.455556, 1.0, 0.688889, 0.377778, 0.433333, 0.9, 0.21875, 0.364583, 0.473611,
                       0.567361, 0.7375, 0.426389, 0.382639, 0.491667, 0.6375, 0.53125, 0.264583, 0.411806, 0.688889, 0.43125,
                       0.120139, 0.381945, 0.552083, 0.33125, 0.84375, 0.577083, 0.41875, 0.466667, 0.74375, 0.432639, 0.3125,
                       0.40625, 0.64375, 0.8125, 0.545833, 0.3875, 0.435417, 0.7125, 0.66875, 0.434028, 0.375, 0.6125, 0.4375,
                       0.170833, 0.318056, 0.595139, 0.3375, 0.828472, 0.746528, 0.458333, 0.2375, 0.68125, 0.414583, 0.317361,
                       0.411111, 0.58125, 0.644444, 0.440278, 0.335417, 0.48125, 0.9, 0.633333, 0.322222, 0.255556, 0.8,
                       0.488889, 0.177778, 0.233333, 0.7]),
    ])
    func matchesPyTorchInterpolate(h: Int, w: Int, antialias: Bool, expected: [Float]) {
        let x = Tensor(shape: [1, 5, 7], data: ImageResizeParityTests.input)
        let y = ImageOps.resizeBilinear(x, height: h, width: w, antialias: antialias)
        #expect(y.shape == [1, h, w])
        let worst = worstError(zip(y.data, expected).map { abs($0 - $1) })
        #expect(worst < 2e-6, "worst \(worst)")
    }

    @Test func batchedAndIdentityAndConstant() {
        let x = DropBuilder.pattern(channels: 3, height: 6, width: 6, seed: 1)
        #expect(ImageOps.resizeBilinear(x, height: 6, width: 6, antialias: true) == x)
        let batch = Tensor(shape: [2, 3, 6, 6], data: x.data + x.data)
        let y = ImageOps.resizeBilinear(batch, height: 3, width: 2, antialias: true)
        let single = ImageOps.resizeBilinear(x, height: 3, width: 2, antialias: true)
        #expect(y.shape == [2, 3, 3, 2] && Array(y.data[0..<18]) == single.data && Array(y.data[18...]) == single.data)
        let c = ImageOps.resizeBilinear(Tensor(repeating: 0.25, shape: [1, 9, 13]), height: 4, width: 5, antialias: true)
        #expect(c.data.allSatisfy { abs($0 - 0.25) < 1e-6 })
    }
}
