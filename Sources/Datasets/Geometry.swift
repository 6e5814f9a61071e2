import Tensors

/// Geometric transforms on one image `[C, H, W]`: vertical flip (horizontal: `ImageOps.flipHorizontal`) and an
/// inverse-mapped affine warp with bilinear
/// sampling, which covers rotation, shear, translation and crop-and-resize in one routine.
public enum Geometry {
    /// Mirrors top↔bottom.
    public static func flipVertical(_ img: Tensor) -> Tensor {
        let (c, h, w) = (img.shape[0], img.shape[1], img.shape[2])
        var out = img
        for ch in 0..<c { for y in 0..<h {
            for x in 0..<w { out.data[(ch * h + y) * w + x] = img.data[(ch * h + (h - 1 - y)) * w + x] }
        } }
        return out
    }

    /// A 2×3 affine map from output pixel centres to source coordinates (pixels, origin at top-left).
    public struct Affine: Sendable {
        public var a, b, c, d, e, f: Float   // src = (a·x + b·y + c, d·x + e·y + f)

        /// Rotation by `degrees` (counter-clockwise as displayed) about the image centre.
        public static func rotation(degrees: Float, height: Int, width: Int) -> Affine {
            let t = degrees * .pi / 180
            let (cs, sn) = (cosf(t), sinf(t))
            let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2  // centre in pixel-index coordinates
            // Inverse rotation maps output to source.
            return Affine(a: cs, b: -sn, c: cx - cs * cx + sn * cy,
                          d: sn, e: cs, f: cy - sn * cx - cs * cy)
        }

        /// Shear along x (`sx`) and y (`sy`) about the centre, then translate by (tx, ty) pixels.
        public static func shearTranslate(sx: Float, sy: Float, tx: Float, ty: Float, height: Int, width: Int) -> Affine {
            let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2  // centre in pixel-index coordinates
            return Affine(a: 1, b: sx, c: -sx * cy - tx, d: sy, e: 1, f: -sy * cx - ty)
        }

        /// Maps the whole output onto the source crop (top, left, cropHeight, cropWidth): crop-and-resize.
        public static func crop(top: Float, left: Float, cropHeight: Float, cropWidth: Float,
                                height: Int, width: Int) -> Affine {
            let sx = cropWidth / Float(width), sy = cropHeight / Float(height)
            // Pixel centres: src + 0.5 = (x + 0.5)·s + left
            return Affine(a: sx, b: 0, c: left + 0.5 * sx - 0.5, d: 0, e: sy, f: top + 0.5 * sy - 0.5)
        }
    }

    /// What a source point outside the image reads.
    public enum Edge: Sendable {
        /// Zero (black), as torchvision/TF rotate by default.
        case zero
        /// The nearest border pixel (replicate), for content that continues past the frame (skin).
        case clamp
    }

    /// Resamples `img` through `map` with bilinear interpolation.
    public static func warp(_ img: Tensor, _ map: Affine, edge: Edge = .zero) -> Tensor {
        let (c, h, w) = (img.shape[0], img.shape[1], img.shape[2])
        var out = Tensor(zeros: img.shape)
        img.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        let fx = Float(x), fy = Float(y)
                        let sx = map.a * fx + map.b * fy + map.c
                        let sy = map.d * fx + map.e * fy + map.f
                        let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                        let wx = sx - Float(x0), wy = sy - Float(y0)
                        for ch in 0..<c {
                            let base = ch * h * w
                            func at(_ yy: Int, _ xx: Int) -> Float {
                                if yy >= 0 && yy < h && xx >= 0 && xx < w { return src[base + yy * w + xx] }
                                if edge == .zero { return 0 }
                                return src[base + min(h - 1, max(0, yy)) * w + min(w - 1, max(0, xx))]
                            }
                            let top = at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx
                            let bot = at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx
                            dst[base + y * w + x] = top * (1 - wy) + bot * wy
                        }
                    }
                }
            }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
