import Tensors

/// The paper's heuristic augmentation baselines (Ktena et al., Methods), one policy per modality, plus
/// RandAugment as an option. Every op works on one image `[C, H, W]` in [0, 1] and draws its randomness
/// from the caller's `RNG`, so a batch is reproducible from (seed, step, index).
public struct HeuristicAugment: Sendable, Equatable {
    public enum Policy: String, Sendable, Codable, CaseIterable {
        /// Brightness, contrast, saturation and hue jitter (TF Inception-style colour distortion).
        case histopathology
        /// Horizontal flip, crop 202/224 and resize back, rotation ±15°, luminance shift ±0.1, contrast ×[0.8, 1.2].
        case radiology
        /// Flips, brightness ±0.1, saturation ×[0.8, 1.2], hue ±0.02, contrast ×[0.8, 1.2], rotation ±150°,
        /// Gaussian blur with σ from {0.001, 0.01, 0.1, 1, 3, 5, 7}.
        case dermatology
        /// RandAugment: `randAugmentOps` random ops at magnitude `randAugmentMagnitude` (of 10).
        case randaugment
    }

    public var policy: Policy
    public var randAugmentOps = 2
    public var randAugmentMagnitude = 9

    public init(policy: Policy) { self.policy = policy }

    /// The policy the paper used for a manifest modality (`generic` gets the dermatology set without rotation
    /// being special: it is the most general of the three).
    public static func forModality(_ modality: String) -> HeuristicAugment {
        switch modality {
        case "histopathology": return HeuristicAugment(policy: .histopathology)
        case "radiology": return HeuristicAugment(policy: .radiology)
        default: return HeuristicAugment(policy: .dermatology)
        }
    }

    /// One augmented copy of `image`.
    public func apply(_ image: Tensor, rng: inout RNG) -> Tensor {
        switch policy {
        case .histopathology: return histopathology(image, &rng)
        case .radiology: return radiology(image, &rng)
        case .dermatology: return dermatology(image, &rng)
        case .randaugment: return randAugment(image, &rng)
        }
    }

    static let dermatologyBlurSigmas: [Float] = [0.001, 0.01, 0.1, 1, 3, 5, 7]

    func histopathology(_ image: Tensor, _ rng: inout RNG) -> Tensor {
        var x = image
        ColorOps.shiftBrightness(&x, by: uniform(&rng, -32.0 / 255, 32.0 / 255))
        ColorOps.adjustSaturation(&x, factor: uniform(&rng, 0.5, 1.5))
        ColorOps.adjustHue(&x, delta: uniform(&rng, -0.2, 0.2))
        ColorOps.adjustContrast(&x, factor: uniform(&rng, 0.5, 1.5))
        return x
    }

    func radiology(_ image: Tensor, _ rng: inout RNG) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        var x = rng.uniform() < 0.5 ? ImageOps.flipHorizontal(image) : image
        let ch = Float(h) * 202 / 224, cw = Float(w) * 202 / 224
        let top = rng.uniform() * (Float(h) - ch), left = rng.uniform() * (Float(w) - cw)
        x = Geometry.warp(x, .crop(top: top, left: left, cropHeight: ch, cropWidth: cw, height: h, width: w),
                          edge: .clamp)
        x = Geometry.warp(x, .rotation(degrees: uniform(&rng, -15, 15), height: h, width: w), edge: .zero)
        ColorOps.shiftBrightness(&x, by: uniform(&rng, -0.1, 0.1))
        ColorOps.scale(&x, by: uniform(&rng, 0.8, 1.2))
        return x
    }

    func dermatology(_ image: Tensor, _ rng: inout RNG) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        var x = image
        if rng.uniform() < 0.5 { x = ImageOps.flipHorizontal(x) }
        if rng.uniform() < 0.5 { x = Geometry.flipVertical(x) }
        ColorOps.shiftBrightness(&x, by: uniform(&rng, -0.1, 0.1))
        ColorOps.adjustSaturation(&x, factor: uniform(&rng, 0.8, 1.2))
        ColorOps.adjustHue(&x, delta: uniform(&rng, -0.02, 0.02))
        ColorOps.adjustContrast(&x, factor: uniform(&rng, 0.8, 1.2))
        // Skin continues past the frame, so rotated-in corners repeat the border instead of going black.
        x = Geometry.warp(x, .rotation(degrees: uniform(&rng, -150, 150), height: h, width: w), edge: .clamp)
        let sigma = Self.dermatologyBlurSigmas[rng.int(below: Self.dermatologyBlurSigmas.count)]
        return ImageOps.gaussianBlur(x, kernelSize: Self.blurKernelSize(sigma: sigma, limit: min(h, w)), sigma: sigma)
    }

    /// Odd kernel covering ±3σ, no wider than the image.
    static func blurKernelSize(sigma: Float, limit: Int) -> Int {
        var k = 2 * Int((3 * sigma).rounded(.up)) + 1
        let cap = limit % 2 == 1 ? limit : limit - 1
        k = max(3, min(k, cap))
        return k
    }

    /// RandAugment (Cubuk et al. 2020): `randAugmentOps` ops drawn uniformly, each at magnitude M/10 with a
    /// random sign where the op has one.
    func randAugment(_ image: Tensor, _ rng: inout RNG) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        let m = Float(randAugmentMagnitude) / 10
        var x = image
        for _ in 0..<randAugmentOps {
            let sign: Float = rng.uniform() < 0.5 ? -1 : 1
            switch rng.int(below: 11) {
            case 0: break                                                         // identity
            case 1: x = Self.autoContrast(x)
            case 2: x = Geometry.warp(x, .rotation(degrees: sign * 30 * m, height: h, width: w), edge: .zero)
            case 3: x = Self.solarize(x, threshold: 1 - m)
            case 4: ColorOps.adjustSaturation(&x, factor: 1 + sign * 0.9 * m)
            case 5: x = Self.posterize(x, bits: 8 - Int((4 * m).rounded()))
            case 6: ColorOps.adjustContrast(&x, factor: 1 + sign * 0.9 * m)
            case 7: ColorOps.scale(&x, by: 1 + sign * 0.9 * m)
            case 8: x = Geometry.warp(x, .shearTranslate(sx: sign * 0.3 * m, sy: 0, tx: 0, ty: 0, height: h, width: w), edge: .zero)
            case 9: x = Geometry.warp(x, .shearTranslate(sx: 0, sy: sign * 0.3 * m, tx: 0, ty: 0, height: h, width: w), edge: .zero)
            default:
                let t = sign * 0.45 * m * Float(w) / 2
                x = rng.uniform() < 0.5
                    ? Geometry.warp(x, .shearTranslate(sx: 0, sy: 0, tx: t, ty: 0, height: h, width: w), edge: .zero)
                    : Geometry.warp(x, .shearTranslate(sx: 0, sy: 0, tx: 0, ty: t, height: h, width: w), edge: .zero)
            }
        }
        return x
    }

    /// Stretches each channel to span [0, 1].
    static func autoContrast(_ image: Tensor) -> Tensor {
        var x = image
        let (c, plane) = (x.shape[0], x.shape[1] * x.shape[2])
        for ch in 0..<c {
            let s = x.data[(ch * plane)..<((ch + 1) * plane)]
            let lo = s.min() ?? 0, hi = s.max() ?? 1
            guard hi > lo else { continue }
            for i in (ch * plane)..<((ch + 1) * plane) { x.data[i] = (x.data[i] - lo) / (hi - lo) }
        }
        return x
    }

    /// Inverts values at or above `threshold`.
    static func solarize(_ image: Tensor, threshold: Float) -> Tensor {
        var x = image
        for i in 0..<x.count where x.data[i] >= threshold { x.data[i] = 1 - x.data[i] }
        return x
    }

    /// Keeps the top `bits` bits of each 8-bit value.
    static func posterize(_ image: Tensor, bits: Int) -> Tensor {
        var x = image
        let shift = UInt8(max(0, min(8, 8 - bits)))
        for i in 0..<x.count {
            let v = UInt8(max(0, min(255, (x.data[i] * 255).rounded())))
            x.data[i] = Float((v >> shift) << shift) / 255
        }
        return x
    }

    func uniform(_ rng: inout RNG, _ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * rng.uniform() }
}
