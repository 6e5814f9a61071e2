import Tensors

/// Colour adjustments on one RGB (or gray) image `[C, H, W]` in [0, 1], in TensorFlow's `tf.image`
/// semantics (the paper's pipelines were TF/JAX): results are clipped to [0, 1].
public enum ColorOps {
    /// x + delta (TF `adjust_brightness`).
    public static func shiftBrightness(_ img: inout Tensor, by delta: Float) {
        img.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = clamp01(p[i] + delta) }
        }
    }

    /// x · factor (the radiology "contrast" of Ktena et al.: pixel values multiplied, then clipped).
    public static func scale(_ img: inout Tensor, by factor: Float) {
        img.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = clamp01(p[i] * factor) }
        }
    }

    /// (x − mean_c)·factor + mean_c per channel (TF `adjust_contrast`).
    public static func adjustContrast(_ img: inout Tensor, factor: Float) {
        let (c, plane) = (img.shape[0], img.shape[1] * img.shape[2])
        img.withUnsafeMutableBufferPointer { p in
            for ch in 0..<c {
                var sum: Float = 0
                for i in 0..<plane { sum += p[ch * plane + i] }
                let mean = sum / Float(plane)
                for i in 0..<plane { p[ch * plane + i] = clamp01((p[ch * plane + i] - mean) * factor + mean) }
            }
        }
    }

    /// Multiplies HSV saturation by `factor` (TF `adjust_saturation`); gray images are unchanged.
    public static func adjustSaturation(_ img: inout Tensor, factor: Float) {
        mapHSV(&img) { h, s, v in (h, clamp01(s * factor), v) }
    }

    /// Rotates hue by `delta` turns (TF `adjust_hue`, delta in [−0.5, 0.5]); gray images are unchanged.
    public static func adjustHue(_ img: inout Tensor, delta: Float) {
        mapHSV(&img) { h, s, v in
            var nh = h + delta
            nh -= nh.rounded(.down)
            return (nh, s, v)
        }
    }

    /// Applies `f` to every pixel in HSV space (h in [0, 1) turns).
    static func mapHSV(_ img: inout Tensor, _ f: (Float, Float, Float) -> (Float, Float, Float)) {
        guard img.shape[0] == 3 else { return }
        let plane = img.shape[1] * img.shape[2]
        img.withUnsafeMutableBufferPointer { p in
            for i in 0..<plane {
                let (h, s, v) = rgbToHSV(p[i], p[plane + i], p[2 * plane + i])
                let (h2, s2, v2) = f(h, s, v)
                let (r, g, b) = hsvToRGB(h2, s2, v2)
                p[i] = clamp01(r); p[plane + i] = clamp01(g); p[2 * plane + i] = clamp01(b)
            }
        }
    }

    /// RGB → HSV with hue in turns [0, 1).
    public static func rgbToHSV(_ r: Float, _ g: Float, _ b: Float) -> (Float, Float, Float) {
        let mx = max(r, g, b), mn = min(r, g, b)
        let d = mx - mn
        let s: Float = mx > 0 ? d / mx : 0
        var h: Float = 0
        if d > 0 {
            if mx == r { h = (g - b) / d } else if mx == g { h = 2 + (b - r) / d } else { h = 4 + (r - g) / d }
            h /= 6
            if h < 0 { h += 1 }
        }
        return (h, s, mx)
    }

    /// HSV (hue in turns) → RGB.
    public static func hsvToRGB(_ h: Float, _ s: Float, _ v: Float) -> (Float, Float, Float) {
        let h6 = (h - h.rounded(.down)) * 6
        let sector = min(5, Int(h6))
        let f = h6 - Float(sector)
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        switch sector {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    @inline(__always) static func clamp01(_ v: Float) -> Float { max(0, min(1, v)) }
}
