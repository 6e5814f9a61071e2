import Foundation
import Testing
@testable import Tensors

/// Fixture produced by Tests/Fixtures/torch/make_imageops_fixtures.py (PyTorch reference outputs).
private let fixturePath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/torch/imageops.safetensors").path

/// Worst |a − b| and whether every element is within 1e-5 absolute or 1e-4 relative. A NaN or
/// infinite element on either side fails (worst = infinity): the comparisons below are written so that
/// NaN makes them false, never true.
func maxRelativeError(_ a: Tensor, _ b: Tensor) -> (worst: Float, ok: Bool) {
    precondition(a.shape == b.shape, "shape \(a.shape) vs \(b.shape)")
    var worst: Float = 0, ok = true
    for i in 0..<a.count {
        guard a.data[i].isFinite && b.data[i].isFinite else { return (.infinity, false) }
        let d = abs(a.data[i] - b.data[i])
        worst = max(worst, d)
        if !(d <= 1e-5 || d <= 1e-4 * abs(b.data[i])) { ok = false }
    }
    return (worst, ok)
}

@Suite struct ImageOpsTests {
    @Test func resizeMatchesTorchInterpolate() throws {
        let f = try loadF32SafeTensors(fixturePath)
        let x = try #require(f["x"])
        var checked = 0
        for (name, expected) in f where name.hasPrefix("resize_") {
            let parts = name.split(separator: "_")
            let hw = parts[1].split(separator: "x").map { Int($0)! }
            let y = ImageOps.resizeBilinear(x, height: hw[0], width: hw[1], antialias: parts[2] == "aa")
            let (worst, ok) = maxRelativeError(y, expected)
            #expect(ok, "\(name): worst abs diff \(worst)")
            checked += 1
        }
        #expect(checked == 10)
    }

    @Test func blurMatchesTorchvisionGaussianBlur() throws {
        let f = try loadF32SafeTensors(fixturePath)
        let x = try #require(f["x"])
        var checked = 0
        for (name, expected) in f where name.hasPrefix("blur_") {
            let parts = name.split(separator: "_")
            let k = Int(parts[1].dropFirst())!, s = Float(parts[2].dropFirst())!
            let y = ImageOps.gaussianBlur(x, kernelSize: k, sigma: s)
            let (worst, ok) = maxRelativeError(y, expected)
            #expect(ok, "\(name): worst abs diff \(worst)")
            checked += 1
        }
        #expect(checked == 4)
    }

    @Test func resizeKeepsConstantsAndIdentity() {
        let c = Tensor(repeating: 0.3, shape: [1, 2, 9, 11])
        for aa in [false, true] {
            for (h, w) in [(4, 5), (20, 23), (9, 3)] {
                let y = ImageOps.resizeBilinear(c, height: h, width: w, antialias: aa)
                #expect(y.shape == [1, 2, h, w])
                #expect(y.data.allSatisfy { abs($0 - 0.3) < 1e-6 })
            }
        }
        var rng = RNG(seed: 3)
        var x = Tensor(zeros: [3, 5, 6])
        x.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        #expect(ImageOps.resizeBilinear(x, height: 5, width: 6, antialias: true) == x)
    }

    /// Exact 2× downsampling without anti-alias averages each 2×2 block (source coordinate lands midway).
    @Test func plainHalvingAveragesBlocks() {
        let x = Tensor(shape: [1, 2, 4], data: [0, 2, 4, 6, 10, 12, 14, 16])
        let y = ImageOps.resizeBilinear(x, height: 1, width: 2, antialias: false)
        #expect(y.data == [6, 10] as [Float]) // (0+2+10+12)/4, (4+6+14+16)/4
    }

    @Test func gaussianKernelIsNormalisedSymmetricAndPeaked() {
        let k = ImageOps.gaussianKernel1D(size: 7, sigma: 1.5)
        #expect(abs(k.reduce(0, +) - 1) < 1e-6)
        for i in 0..<3 { #expect(k[i] == k[6 - i]); #expect(k[i] < k[i + 1]) }
        // σ = 0.2 (the paper's upsampler blur) is almost the identity: centre weight 1 − 2·e^(−12.5).
        let tiny = ImageOps.gaussianKernel1D(size: 7, sigma: 0.2)
        #expect(abs(tiny[3] - 1 / (1 + 2 * Float(exp(-12.5)))) < 1e-6)
    }

    @Test func blurReflectsAtTheBorder() {
        // A single bright pixel on the left edge. Reflect padding mirrors around column 0 without repeating
        // it (padded row 0, 1, 0, 0, …), so column 0 keeps k[1] and column 1 receives k[0].
        var x = Tensor(zeros: [1, 1, 5])
        x[0, 0, 0] = 1
        let k = ImageOps.gaussianKernel1D(size: 3, sigma: 1)
        // Blur along H (size 1) is the identity under reflect padding of a single row.
        let y = ImageOps.gaussianBlur(x, kernelSize: 3, sigma: 1)
        #expect(abs(y[0, 0, 0] - k[1]) < 1e-6)
        #expect(abs(y[0, 0, 1] - k[0]) < 1e-6)
        #expect(y[0, 0, 2] == 0)
        #expect(ImageOps.reflect(-1, 5) == 1 && ImageOps.reflect(5, 5) == 3 && ImageOps.reflect(-9, 5) == 1)
    }

    @Test func quantizeSnapsTo256Levels() {
        let x = Tensor(shape: [1, 1, 6], data: [-0.2, 0, 0.5, 0.7001, 1, 1.3])
        let q = ImageOps.quantize(x)
        let expected: [Float] = [0, 0, 128.0 / 255, 179.0 / 255, 1, 1]
        #expect(q.data == expected)
        let s = ImageOps.quantize(Tensor(shape: [1, 1, 2], data: [-1, 0.004]), levels: 256, low: -1, high: 1)
        #expect(s.data[0] == -1)
        #expect(abs(s.data[1] - (-1 + 128 * 2 / Float(255))) < 1e-6)
    }

    @Test func flipReversesWidthOnly() {
        let x = Tensor(shape: [1, 2, 2, 3], data: (0..<12).map(Float.init))
        let y = ImageOps.flipHorizontal(x)
        #expect(y.data == [2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9])
        var z = x
        ImageOps.flipHorizontal(&z, sample: 0)
        #expect(z == y)
        #expect(ImageOps.flipHorizontal(y) == x)
    }
}

/// Minimal reader for the all-F32 fixture (the NN module's SafeTensors is not a dependency of this target).
private func loadF32SafeTensors(_ path: String) throws -> [String: Tensor] {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    var headerLen = 0
    for i in 0..<8 { headerLen |= Int(bytes[i]) << (8 * i) }
    let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLen)])) as! [String: Any]
    var out: [String: Tensor] = [:]
    for (name, info) in header where name != "__metadata__" {
        let d = info as! [String: Any]
        precondition(d["dtype"] as! String == "F32", "fixture tensor \(name) is not F32")
        let shape = (d["shape"] as! [Int])
        let off = d["data_offsets"] as! [Int]
        let start = 8 + headerLen + off[0], n = (off[1] - off[0]) / 4
        var values = [Float](repeating: 0, count: n)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + 4 * n)])) }
        }
        out[name] = Tensor(shape: shape, data: values)
    }
    return out
}
