import Testing
@testable import Datasets
import Tensors

@Suite struct ImageAugmentOpsTests {
    static func random(_ shape: [Int], seed: UInt64 = 1) -> Tensor {
        var rng = RNG(seed: seed)
        var t = Tensor(zeros: shape)
        t.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: 0, high: 1) }
        return t
    }

    @Test func hsvRoundTripAndKnownValues() {
        var rng = RNG(seed: 3)
        for _ in 0..<1000 {
            let (r, g, b) = (rng.uniform(), rng.uniform(), rng.uniform())
            let (h, s, v) = ColorOps.rgbToHSV(r, g, b)
            let (r2, g2, b2) = ColorOps.hsvToRGB(h, s, v)
            #expect(abs(r - r2) < 1e-5 && abs(g - g2) < 1e-5 && abs(b - b2) < 1e-5)
        }
        let red = ColorOps.rgbToHSV(1, 0, 0), green = ColorOps.rgbToHSV(0, 1, 0), blue = ColorOps.rgbToHSV(0, 0, 1)
        #expect(red.0 == 0 && abs(green.0 - 1.0 / 3) < 1e-6 && abs(blue.0 - 2.0 / 3) < 1e-6)
    }

    @Test func hueShiftByAThirdTurnsRedIntoGreen() {
        var img = Tensor(shape: [3, 1, 1], data: [1, 0, 0])
        ColorOps.adjustHue(&img, delta: 1.0 / 3)
        #expect(abs(img.data[0]) < 1e-5 && abs(img.data[1] - 1) < 1e-5 && abs(img.data[2]) < 1e-5)
    }

    @Test func saturationZeroGivesGrayAndContrastKeepsMean() {
        var img = Self.random([3, 4, 4])
        ColorOps.adjustSaturation(&img, factor: 0)
        for i in 0..<16 { #expect(img.data[i] == img.data[16 + i] && img.data[i] == img.data[32 + i]) }
        var c = Tensor(shape: [1, 1, 4], data: [0.2, 0.4, 0.6, 0.8])
        ColorOps.adjustContrast(&c, factor: 0.5)
        #expect(c.data.map { ($0 * 100).rounded() / 100 } == [0.35, 0.45, 0.55, 0.65])
        var s = Tensor(shape: [1, 1, 2], data: [0.5, 0.9])
        ColorOps.scale(&s, by: 1.2)
        #expect(abs(s.data[0] - 0.6) < 1e-6 && s.data[1] == 1)   // clipped
    }

    @Test func flipsAreInvolutions() {
        let img = Self.random([3, 5, 7])
        #expect(Geometry.flipVertical(Geometry.flipVertical(img)) == img)
        #expect(Geometry.flipVertical(img) != img)
        #expect(Geometry.flipVertical(img)[0, 0, 3] == img[0, 4, 3])
    }

    @Test func warpIdentityCropAndQuarterTurn() {
        let img = Self.random([2, 6, 6])
        let full = Geometry.Affine.crop(top: 0, left: 0, cropHeight: 6, cropWidth: 6, height: 6, width: 6)
        let same = Geometry.warp(img, full)
        for i in 0..<img.count { #expect(abs(same.data[i] - img.data[i]) < 1e-5) }
        // A 90° rotation of a square image permutes pixels exactly (up to float rounding of the map).
        let rot = Geometry.warp(img, .rotation(degrees: 90, height: 6, width: 6))
        var matched = 0
        for y in 0..<6 { for x in 0..<6 {
            if abs(rot[0, y, x] - img[0, x, 5 - y]) < 1e-4 || abs(rot[0, y, x] - img[0, 5 - x, y]) < 1e-4 { matched += 1 }
        } }
        #expect(matched == 36)
        // Cropping the top-left quadrant and resizing ×2 keeps its top-left pixel area.
        let quad = Geometry.warp(img, .crop(top: 0, left: 0, cropHeight: 3, cropWidth: 3, height: 6, width: 6))
        #expect(abs(quad[0, 1, 1] - img[0, 0, 0]) < 0.35)
        // Clamped edges never read black; zero edges do once the content rotates out of frame.
        let ones = Tensor(repeating: 1, shape: [1, 6, 6])
        let clamped = Geometry.warp(ones, .rotation(degrees: 45, height: 6, width: 6), edge: .clamp)
        let zeroed = Geometry.warp(ones, .rotation(degrees: 45, height: 6, width: 6), edge: .zero)
        #expect(clamped.data.allSatisfy { abs($0 - 1) < 1e-5 })
        #expect(zeroed.data.contains { $0 < 0.5 })
    }
}
