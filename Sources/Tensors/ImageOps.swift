// Image operations on Float32 images laid out [C, H, W] or [N, C, H, W] (every H×W plane is processed
// independently, so the leading dimensions only count planes).
//
// Semantics follow PyTorch so that preprocessing matches the paper's reference pipeline:
// - `resizeBilinear`: `F.interpolate(mode="bilinear", align_corners=False, antialias=…)` with the output size
//   given (scale = in / out per axis). Without anti-aliasing each output pixel reads the two nearest input
//   pixels (source coordinate (i + ½)·scale − ½, clamped at 0). With anti-aliasing and downsampling the
//   triangle filter is stretched to cover `scale` input pixels on each side (PIL / torch "AA" kernel);
//   when upsampling, anti-aliasing changes nothing but the border normalisation.
// - `gaussianBlur`: torchvision `gaussian_blur(img, [k, k], [σ, σ])` — 1-D kernel exp(−x²/2σ²) over
//   x = −(k−1)/2 … (k−1)/2, normalised; reflect padding (edge pixel not repeated); applied separably.
// - `quantize`: snap to `levels` evenly spaced values over [low, high] (clamping first).
// - `flipHorizontal`: reverse the W axis.
//
// All work is split over planes with `Parallel.forEach`; each plane writes only its own output slice.

/// Resampling, blurring and pixel-level operations on NCHW / CHW Float32 images.
public enum ImageOps {
    /// Height, width and plane count of a [C, H, W] or [N, C, H, W] tensor.
    @usableFromInline static func planes(_ x: Tensor) -> (planes: Int, h: Int, w: Int) {
        precondition(x.rank == 3 || x.rank == 4, "ImageOps: expected [C,H,W] or [N,C,H,W], got \(x.shape)")
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        return (x.count / max(h * w, 1), h, w)
    }

    // MARK: - Bilinear resize

    /// The taps of a 1-D resampling filter: output i reads input[start[i] ..< start[i] + size[i]] with `weights`.
    struct Taps {
        var start: [Int]
        var size: [Int]
        /// `maxTaps` weights per output index (unused slots are zero).
        var weights: [Float]
        var maxTaps: Int
    }

    /// Taps of torch's bilinear (align_corners = False) along one axis of `inSize` → `outSize`.
    static func bilinearTaps(inSize: Int, outSize: Int, antialias: Bool) -> Taps {
        let scale = Double(inSize) / Double(outSize)
        if !antialias {
            // area_pixel_compute_source_index + guard_index_and_lambda (aten UpSample.h).
            var start = [Int](repeating: 0, count: outSize)
            var size = [Int](repeating: 2, count: outSize)
            var weights = [Float](repeating: 0, count: outSize * 2)
            for i in 0..<outSize {
                var src = scale * (Double(i) + 0.5) - 0.5
                if src < 0 { src = 0 }
                let i0 = min(Int(src.rounded(.down)), inSize - 1)
                let lambda = min(max(src - Double(i0), 0), 1)
                start[i] = i0
                if i0 < inSize - 1 {
                    weights[2 * i] = Float(1 - lambda); weights[2 * i + 1] = Float(lambda)
                } else {
                    size[i] = 1
                    weights[2 * i] = 1
                }
            }
            return Taps(start: start, size: size, weights: weights, maxTaps: 2)
        }
        // Anti-aliased: triangle filter of half-width `support` (aten UpSampleKernel.cpp _compute_weights_aa).
        let support = scale >= 1 ? scale : 1.0
        let invScale = scale >= 1 ? 1 / scale : 1.0
        let maxTaps = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize)
        var size = [Int](repeating: 0, count: outSize)
        var weights = [Float](repeating: 0, count: outSize * maxTaps)
        var w = [Double](repeating: 0, count: maxTaps)
        for i in 0..<outSize {
            let center = scale * (Double(i) + 0.5)
            // Truncation toward zero, as the C++ static_cast does.
            let xmin = max(Int(center - support + 0.5), 0)
            let xsize = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for j in 0..<xsize {
                let d = abs((Double(j + xmin) - center + 0.5) * invScale)
                w[j] = d < 1 ? 1 - d : 0
                total += w[j]
            }
            start[i] = xmin
            size[i] = xsize
            for j in 0..<xsize { weights[i * maxTaps + j] = Float(total != 0 ? w[j] / total : w[j]) }
        }
        return Taps(start: start, size: size, weights: weights, maxTaps: maxTaps)
    }

    /// Bilinear resize of every H×W plane to `height`×`width` (PyTorch `F.interpolate(mode="bilinear",
    /// align_corners=False, antialias: antialias)`). `antialias` matters only when shrinking an axis.
    public static func resizeBilinear(_ x: Tensor, height: Int, width: Int, antialias: Bool) -> Tensor {
        let (np, h, w) = planes(x)
        precondition(height > 0 && width > 0 && h > 0 && w > 0, "resizeBilinear: empty size \(x.shape) → \(height)×\(width)")
        var outShape = x.shape
        outShape[x.rank - 2] = height; outShape[x.rank - 1] = width
        if h == height && w == width { return x }
        let tx = bilinearTaps(inSize: w, outSize: width, antialias: antialias)
        let ty = bilinearTaps(inSize: h, outSize: height, antialias: antialias)
        var out = Tensor(zeros: outShape)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                Parallel.forEach(np, work: np * (h * width + height * width) * 4) { p in
                    // Horizontal pass into a per-plane temporary [h, width], then vertical into the output.
                    var tmp = [Float](repeating: 0, count: h * width)
                    tmp.withUnsafeMutableBufferPointer { tb in
                        let t = tb.baseAddress!
                        let plane = s + p &* h &* w
                        for r in 0..<h {
                            let row = plane + r &* w
                            let trow = t + r &* width
                            for o in 0..<width {
                                let st = tx.start[o], n = tx.size[o], wb = o &* tx.maxTaps
                                var acc: Float = 0
                                for j in 0..<n { acc = acc + tx.weights[wb &+ j] * row[st &+ j] }
                                trow[o] = acc
                            }
                        }
                        let outPlane = d + p &* height &* width
                        for o in 0..<height {
                            let st = ty.start[o], n = ty.size[o], wb = o &* ty.maxTaps
                            let orow = outPlane + o &* width
                            for c in 0..<width { orow[c] = 0 }
                            for j in 0..<n {
                                let wgt = ty.weights[wb &+ j]
                                let trow = t + (st &+ j) &* width
                                for c in 0..<width { orow[c] = orow[c] + wgt * trow[c] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: - Gaussian blur

    /// torchvision's normalised 1-D Gaussian kernel of `size` taps (odd) and standard deviation `sigma`.
    public static func gaussianKernel1D(size: Int, sigma: Float) -> [Float] {
        precondition(size > 0 && size % 2 == 1, "gaussianKernel1D: kernel size must be odd and positive, got \(size)")
        precondition(sigma > 0, "gaussianKernel1D: sigma must be positive, got \(sigma)")
        let half = Float(size - 1) * 0.5
        var k = [Float](repeating: 0, count: size)
        var total: Float = 0
        for i in 0..<size {
            // torch.linspace(-half, half, size) then exp(-0.5 (x/σ)²), in Float32 as torchvision does.
            let x = size == 1 ? -half : -half + Float(i) * (2 * half / Float(size - 1))
            let z = x / sigma
            k[i] = Float(_exp(Double(-0.5 * z * z)))
            total += k[i]
        }
        for i in 0..<size { k[i] /= total }
        return k
    }

    /// Index of `i` in 0..<n under reflect padding (…, 2, 1, 0, 1, 2, …, n−2, n−1, n−2, …), repeated
    /// as often as needed so kernels wider than the image still have a defined result.
    @inlinable static func reflect(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - m
    }

    /// Gaussian blur of every H×W plane with a `kernelSize`×`kernelSize` kernel of standard deviation `sigma`
    /// (torchvision `gaussian_blur` semantics: reflect padding, separable normalised kernel).
    public static func gaussianBlur(_ x: Tensor, kernelSize: Int, sigma: Float) -> Tensor {
        let (np, h, w) = planes(x)
        let k = gaussianKernel1D(size: kernelSize, sigma: sigma)
        let r = kernelSize / 2
        var out = Tensor(zeros: x.shape)
        // Reflected source indices for every padded position, so inner loops have no branches.
        let colIndex = (0..<(w + 2 * r)).map { reflect($0 - r, w) }
        let rowIndex = (0..<(h + 2 * r)).map { reflect($0 - r, h) }
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                Parallel.forEach(np, work: np * h * w * kernelSize * 2) { p in
                    var tmp = [Float](repeating: 0, count: h * w)
                    tmp.withUnsafeMutableBufferPointer { tb in
                        let t = tb.baseAddress!
                        let plane = s + p &* h &* w
                        for y in 0..<h {
                            let row = plane + y &* w, trow = t + y &* w
                            for c in 0..<w {
                                var acc: Float = 0
                                for j in 0..<kernelSize { acc = acc + k[j] * row[colIndex[c &+ j]] }
                                trow[c] = acc
                            }
                        }
                        let outPlane = d + p &* h &* w
                        for y in 0..<h {
                            let orow = outPlane + y &* w
                            for c in 0..<w { orow[c] = 0 }
                            for j in 0..<kernelSize {
                                let wgt = k[j], trow = t + rowIndex[y &+ j] &* w
                                for c in 0..<w { orow[c] = orow[c] + wgt * trow[c] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: - Pixel operations

    /// Clamps to [low, high] and snaps each value to the nearest of `levels` evenly spaced values
    /// (levels = 256 over [0, 1] is 8-bit quantisation: round(x·255)/255; ties round half to even).
    public static func quantize(_ x: Tensor, levels: Int = 256, low: Float = 0, high: Float = 1) -> Tensor {
        precondition(levels >= 2 && high > low, "quantize: need levels ≥ 2 and high > low")
        var out = x
        let steps = Float(levels - 1)
        let span = high - low
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let v = min(max(p[i], low), high)
                let q = ((v - low) / span * steps).rounded(.toNearestOrEven)
                p[i] = low + q / steps * span
            }
        }
        return out
    }

    /// Mirrors every plane left–right (reverses the W axis).
    public static func flipHorizontal(_ x: Tensor) -> Tensor {
        let (np, h, w) = planes(x)
        var out = Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<(np * h) {
                    let base = r * w
                    for c in 0..<w { dst[base + c] = src[base + w - 1 - c] }
                }
            }
        }
        return out
    }

    /// Mirrors sample `index` of an [N, C, H, W] batch left–right in place.
    public static func flipHorizontal(_ x: inout Tensor, sample index: Int) {
        precondition(x.rank == 4 && index >= 0 && index < x.shape[0], "flipHorizontal: sample \(index) of \(x.shape)")
        let c = x.shape[1], h = x.shape[2], w = x.shape[3]
        x.withUnsafeMutableBufferPointer { p in
            for r in 0..<(c * h) {
                let base = (index * c * h + r) * w
                var a = base, b = base + w - 1
                while a < b { p.swapAt(a, b); a += 1; b -= 1 }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#else
import Darwin
@usableFromInline func _exp(_ x: Double) -> Double { Darwin.exp(x) }
#endif
