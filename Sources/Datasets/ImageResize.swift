import Tensors

/// Bilinear resize with optional anti-aliasing, matching PyTorch's
/// `F.interpolate(mode="bilinear", align_corners=False, antialias=…)`.
///
/// Separable: each output coordinate gets a short list of (input index, weight) taps from a triangle
/// filter centred on the source position `(i + 0.5) · in/out − 0.5`. Without anti-aliasing, or when
/// upsampling, the triangle has radius 1 (plain bilinear, edge taps renormalised = clamping); with
/// anti-aliasing and downsampling, the triangle is widened by the scale factor so every input pixel
/// contributes (PIL's and PyTorch's scheme).
///
/// (Kept in Datasets as `ImageResize` until the `ImageOps` of the Tensors module lands; to be reconciled.)
public enum ImageResize {
    /// Taps of one axis: for output i, `weights[offsets[i] ..< offsets[i+1]]` apply to inputs `first[i] + k`.
    struct Taps {
        var first: [Int] = []
        var offsets: [Int] = [0]
        var weights: [Float] = []
    }

    static func taps(input: Int, output: Int, antialias: Bool) -> Taps {
        let scale = Double(input) / Double(output)
        let support = (antialias && scale > 1) ? scale : 1.0
        var t = Taps()
        for i in 0..<output {
            let center = (Double(i) + 0.5) * scale
            let lo = max(0, Int((center - support + 0.5).rounded(.down)))
            let hi = min(input, Int((center + support + 0.5).rounded(.down)))
            var ws: [Double] = []
            var total = 0.0
            for x in lo..<max(lo, hi) {
                let w = max(0, 1 - abs((Double(x) - center + 0.5) / support))
                ws.append(w)
                total += w
            }
            // Trim zero-weight taps at either end so the inner loop does no useless work.
            var start = 0, end = ws.count
            while start < end && ws[start] == 0 { start += 1 }
            while end > start && ws[end - 1] == 0 { end -= 1 }
            if start == end {  // cannot happen for in, out ≥ 1; keep a nearest tap for safety
                t.first.append(min(input - 1, max(0, Int(center))))
                t.weights.append(1)
            } else {
                t.first.append(lo + start)
                for k in start..<end { t.weights.append(Float(ws[k] / total)) }
            }
            t.offsets.append(t.weights.count)
        }
        return t
    }

    /// Resizes a `[C,H,W]` or `[N,C,H,W]` tensor to `height × width`.
    public static func bilinear(_ image: Tensor, height: Int, width: Int, antialias: Bool) -> Tensor {
        precondition(image.rank == 3 || image.rank == 4, "ImageResize: [C,H,W] or [N,C,H,W], got \(image.shape)")
        precondition(height >= 1 && width >= 1)
        let inH = image.shape[image.rank - 2], inW = image.shape[image.rank - 1]
        let planes = image.shape.dropLast(2).reduce(1, *)
        var outShape = image.shape
        outShape[image.rank - 2] = height
        outShape[image.rank - 1] = width
        var out = Tensor(zeros: outShape)
        let tx = taps(input: inW, output: width, antialias: antialias)
        let ty = taps(input: inH, output: height, antialias: antialias)
        var tmp = [Float](repeating: 0, count: inH * width)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                tmp.withUnsafeMutableBufferPointer { mid in
                    for p in 0..<planes {
                        resizePlane(src.baseAddress! + p * inH * inW, inH: inH, inW: inW,
                                    dst.baseAddress! + p * height * width, height: height, width: width,
                                    tx: tx, ty: ty, scratch: mid.baseAddress!)
                    }
                }
            }
        }
        return out
    }

    /// Horizontal pass into `scratch` ([inH, width]), then vertical pass into `dst` ([height, width]).
    static func resizePlane(_ src: UnsafePointer<Float>, inH: Int, inW: Int,
                            _ dst: UnsafeMutablePointer<Float>, height: Int, width: Int,
                            tx: Taps, ty: Taps, scratch: UnsafeMutablePointer<Float>) {
        tx.weights.withUnsafeBufferPointer { wx in
            for y in 0..<inH {
                let row = src + y &* inW
                let out = scratch + y &* width
                for x in 0..<width {
                    let base = tx.first[x]
                    var acc: Float = 0
                    for k in tx.offsets[x]..<tx.offsets[x &+ 1] {
                        acc += wx[k] * row[base &+ (k &- tx.offsets[x])]
                    }
                    out[x] = acc
                }
            }
        }
        ty.weights.withUnsafeBufferPointer { wy in
            for y in 0..<height {
                let out = dst + y &* width
                for x in 0..<width { out[x] = 0 }
                let base = ty.first[y]
                for k in ty.offsets[y]..<ty.offsets[y &+ 1] {
                    let w = wy[k]
                    let row = scratch + (base &+ (k &- ty.offsets[y])) &* width
                    for x in 0..<width { out[x] += w * row[x] }
                }
            }
        }
    }
}
