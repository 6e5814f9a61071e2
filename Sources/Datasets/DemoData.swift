import Tensors

/// The embedded demo dataset: a dermatology-like toy that fairgen generates deterministically (no download).
///
/// Lesions of four classes are painted on skin of six Fitzpatrick-like tones, mapped to three groups
/// (light I–II, medium III–IV, dark V–VI). Class appearance changes with tone the way it does in the clinic —
/// erythema reads violet-brown rather than red on dark skin, and pigmented lesions lose contrast — so a
/// classifier that saw few dark-skin examples does worse on them. The labeled training split is skewed against
/// dark tones; the unlabeled split is tone-balanced (the DDPM can learn dark skin from it, with an all-zero
/// label block); `test_id` is tone-balanced; `test_ood` shifts both the label prevalence and the tone mix.
public enum DemoData {
    /// Class names in label order; `melanoma` is the high-risk class.
    public static let classes = ["nevus", "melanoma", "eczema", "psoriasis"]
    public static let highRisk = ["melanoma"]
    /// Tone groups (the sensitive attribute `skin_tone`).
    public static let toneGroups = ["light", "medium", "dark"]
    public static let sexes = ["female", "male"]

    /// One generated example.
    public struct Example: Sendable {
        public var path: String
        public var label: Int
        public var fitzpatrick: Int      // 1…6
        public var toneGroup: Int        // 0 light, 1 medium, 2 dark
        public var sex: Int
        public var split: String
        public var image: Tensor         // [3, size, size] in [0, 1]
    }

    /// How many examples each split gets, and how skewed the training split is.
    public struct Spec: Sendable, Equatable {
        public var size: Int = 32
        public var train = 800
        public var val = 240
        public var testID = 360
        public var testOOD = 360
        public var unlabeled = 600
        /// Tone-group probabilities of the labeled training and validation splits (light, medium, dark).
        public var trainToneMix: [Double] = [0.72, 0.23, 0.05]
        /// Tone mix and label prevalence of the out-of-distribution test split.
        public var oodToneMix: [Double] = [0.15, 0.35, 0.50]
        public var oodLabelMix: [Double] = [0.20, 0.40, 0.20, 0.20]
        public var seed: UInt64 = 2024
        public init() {}
    }

    /// Generates every split in a fixed order; example `i` depends only on (seed, i).
    public static func generate(_ spec: Spec) -> [Example] {
        let uniformLabels = [Double](repeating: 0.25, count: classes.count)
        let plan: [(split: String, count: Int, tones: [Double], labels: [Double])] = [
            ("train", spec.train, spec.trainToneMix, uniformLabels),
            ("val", spec.val, spec.trainToneMix, uniformLabels),
            ("test_id", spec.testID, [1.0 / 3, 1.0 / 3, 1.0 / 3], uniformLabels),
            ("test_ood", spec.testOOD, spec.oodToneMix, spec.oodLabelMix),
            ("unlabeled", spec.unlabeled, [1.0 / 3, 1.0 / 3, 1.0 / 3], uniformLabels),
        ]
        let root = RNG(seed: spec.seed)
        var out: [Example] = []
        var index: UInt64 = 0
        for part in plan {
            for _ in 0..<part.count {
                var rng = root.split(index)
                let group = draw(part.tones, &rng)
                let fitz = 1 + 2 * group + rng.int(below: 2)
                let label = draw(part.labels, &rng)
                let sex = rng.int(below: 2)
                let image = paint(label: label, fitzpatrick: fitz, size: spec.size, rng: &rng)
                out.append(Example(path: "images/\(part.split)/\(pad(Int(index))).png", label: label,
                                   fitzpatrick: fitz, toneGroup: group, sex: sex, split: part.split, image: image))
                index += 1
            }
        }
        return out
    }

    /// Skin colour of Fitzpatrick type 1…6 (linear RGB-ish, in [0, 1]).
    static func skin(_ fitz: Int) -> (Float, Float, Float) {
        let table: [(Float, Float, Float)] = [
            (0.96, 0.84, 0.76), (0.90, 0.74, 0.62), (0.80, 0.62, 0.47),
            (0.64, 0.46, 0.32), (0.45, 0.31, 0.21), (0.30, 0.20, 0.14),
        ]
        return table[max(0, min(5, fitz - 1))]
    }

    /// Paints one lesion image. Geometry is per class; colour blends class pigment with skin so contrast
    /// falls as the skin darkens, and inflammatory redness turns violet-brown on dark skin.
    static func paint(label: Int, fitzpatrick: Int, size: Int, rng: inout RNG) -> Tensor {
        let s = skin(fitzpatrick)
        let dark = Float(fitzpatrick - 1) / 5            // 0 (type I) … 1 (type VI)
        var img = Tensor(zeros: [3, size, size])
        let n = Float(size)
        // Skin with low-frequency shading and fine texture.
        let gx = (rng.uniform() - 0.5) * 0.12, gy = (rng.uniform() - 0.5) * 0.12
        let cx = n * (0.4 + 0.2 * rng.uniform()), cy = n * (0.4 + 0.2 * rng.uniform())
        let baseR = n * (label == 1 ? 0.30 : label == 0 ? 0.16 : 0.26) * (0.85 + 0.3 * rng.uniform())
        // Border irregularity: melanoma gets strong angular harmonics, others mild.
        let amp: Float = label == 1 ? 0.28 : 0.06
        let ph1 = rng.uniform() * 6.283, ph2 = rng.uniform() * 6.283
        // Class pigment (what the lesion looks like on light skin) and its dark-skin variant.
        let pigment: (Float, Float, Float)
        switch label {
        case 0: pigment = (0.42, 0.26, 0.16)                                   // nevus: even brown
        case 1: pigment = (0.20, 0.12, 0.14)                                   // melanoma: black-brown
        case 2: pigment = lerp((0.86, 0.36, 0.34), (0.36, 0.20, 0.26), dark)   // eczema: red → violet-brown
        default: pigment = lerp((0.84, 0.42, 0.40), (0.40, 0.28, 0.34), dark)  // psoriasis: pink → grey-violet
        }
        let strength: Float = label <= 1 ? 0.92 - 0.35 * dark : 0.75 - 0.25 * dark
        // Eczema is a few soft blobs; psoriasis sharp plaques with white scale; pigmented lesions one body.
        var blobs: [(Float, Float, Float)] = [(cx, cy, baseR)]
        if label >= 2 {
            for _ in 0..<(2 + rng.int(below: 2)) {
                blobs.append((cx + (rng.uniform() - 0.5) * n * 0.5, cy + (rng.uniform() - 0.5) * n * 0.5,
                              baseR * (0.45 + 0.4 * rng.uniform())))
            }
        }
        let edge: Float = label == 2 ? 0.35 : 0.08      // soft vs sharp border, relative to radius
        let blueBlack = rng.uniform() * 6.283
        let plane = size * size
        img.withUnsafeMutableBufferPointer { p in
            for y in 0..<size {
                for x in 0..<size {
                    let fx = Float(x) + 0.5, fy = Float(y) + 0.5
                    let shade = 1 + gx * (fx / n - 0.5) + gy * (fy / n - 0.5) + (rng.uniform() - 0.5) * 0.03
                    var r = s.0 * shade, g = s.1 * shade, b = s.2 * shade
                    var cover: Float = 0
                    for (bx, by, br) in blobs {
                        let dx = fx - bx, dy = fy - by
                        let ang = Float(atan2Approx(dy, dx))
                        let rad = br * (1 + amp * (sinApprox(3 * ang + ph1) * 0.6 + sinApprox(5 * ang + ph2) * 0.4))
                        let d = (dx * dx + dy * dy).squareRoot()
                        let w = max(0, min(1, (rad - d) / max(0.5, edge * rad) + 0.5))
                        cover = max(cover, w)
                    }
                    if cover > 0 {
                        var pr = pigment.0, pg = pigment.1, pb = pigment.2
                        if label == 1 {       // melanoma: blue-black veil in part of the lesion
                            let v = sinApprox(atan2Approx(fy - cy, fx - cx) + blueBlack)
                            if v > 0.3 { pr *= 0.55; pg *= 0.6; pb = pb * 0.6 + 0.12 }
                        }
                        if label == 3 && rng.uniform() < 0.18 {                      // psoriasis scale
                            pr = 0.93; pg = 0.91; pb = 0.88
                        }
                        let a = cover * strength
                        r = r * (1 - a) + pr * a; g = g * (1 - a) + pg * a; b = b * (1 - a) + pb * a
                    }
                    let i = y * size + x
                    p[i] = clamp01(r); p[plane + i] = clamp01(g); p[2 * plane + i] = clamp01(b)
                }
            }
        }
        return img
    }

    static func draw(_ probs: [Double], _ rng: inout RNG) -> Int {
        let u = rng.uniformDouble() * probs.reduce(0, +)
        var acc = 0.0
        for (i, p) in probs.enumerated() { acc += p; if u < acc { return i } }
        return probs.count - 1
    }

    static func lerp(_ a: (Float, Float, Float), _ b: (Float, Float, Float), _ t: Float) -> (Float, Float, Float) {
        (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, a.2 + (b.2 - a.2) * t)
    }

    static func clamp01(_ v: Float) -> Float { max(0, min(1, v)) }

    static func pad(_ i: Int) -> String {
        let s = String(i)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s
    }

    // Small, deterministic trig (same bits on every platform: no libm version differences in the demo data).
    static func sinApprox(_ x: Float) -> Float {
        var a = x.truncatingRemainder(dividingBy: 6.2831853)
        if a > 3.1415927 { a -= 6.2831853 } else if a < -3.1415927 { a += 6.2831853 }
        // Bhaskara-style rational approximation, |error| < 0.002
        let y = 1.2732395 * a - 0.40528473 * a * abs(a)
        return 0.225 * (y * abs(y) - y) + y
    }

    static func atan2Approx(_ y: Float, _ x: Float) -> Float {
        if x == 0 && y == 0 { return 0 }
        let ax = abs(x), ay = abs(y)
        let a = min(ax, ay) / max(ax, ay)
        let s = a * a
        var r = ((-0.0464964749 * s + 0.15931422) * s - 0.327622764) * s * a + a
        if ay > ax { r = 1.57079637 - r }
        if x < 0 { r = 3.14159274 - r }
        return y < 0 ? -r : r
    }
}
