import Tensors

/// The paper's heuristic augmentation baselines (Ktena et al., Methods): the per-modality lists the paper
/// calls "ImageNet augmentations", RandAugment, and stacks of them (RandAugment+ImageNet). Every op works on one image `[C, H, W]` in [0, 1] and draws its randomness
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
        /// Standard ImageNet training augmentation (the `generic` modality's "ImageNet" list): random
        /// resized crop (area 8–100 %, aspect ratio 3/4–4/3, resized back), horizontal flip, and brightness,
        /// contrast and saturation jitter by factors in [0.6, 1.4].
        case imagenet
    }

    /// The policies applied in order (each draws from the same RNG stream, so a stack is reproducible too).
    public var policies: [Policy]
    public var randAugmentOps = 2
    public var randAugmentMagnitude = 9

    /// The first (for one policy: the only) policy.
    public var policy: Policy { policies[0] }

    public init(policy: Policy) { self.policies = [policy] }

    public init(policies: [Policy]) {
        precondition(!policies.isEmpty, "HeuristicAugment: no policy")
        self.policies = policies
    }

    /// The paper's "ImageNet augmentations" of a manifest modality (Ktena et al., Methods, heuristic
    /// augmentation): histopathology's colour jitter, the radiology and dermatology lists; `generic`
    /// gets the standard ImageNet training list.
    public static func imagenetPolicy(for modality: Modality) -> Policy {
        switch modality {
        case .histopathology: return .histopathology
        case .radiology: return .radiology
        case .dermatology: return .dermatology
        case .generic: return .imagenet
        }
    }

    /// The policies of a `pipeline.classifier.augment` setting for a modality: `imagenet` → the modality's
    /// list; `randaugment` → RandAugment; `randaugment+imagenet` → the modality's list, then RandAugment
    /// (geometry and colour first, as torchvision's RandomResizedCrop/flip precede RandAugment).
    public static func policies(_ setting: AugmentSetting, modality: Modality) -> [Policy] {
        switch setting {
        case .imagenet: return [imagenetPolicy(for: modality)]
        case .randaugment: return [.randaugment]
        case .randaugmentImagenet: return [imagenetPolicy(for: modality), .randaugment]
        }
    }

    /// The policy the paper used for a manifest modality (`generic` gets the dermatology set without rotation
    /// being special: it is the most general of the three).
    public static func forModality(_ modality: String) -> HeuristicAugment {
        switch modality {
        case "histopathology": return HeuristicAugment(policy: .histopathology)
        case "radiology": return HeuristicAugment(policy: .radiology)
        default: return HeuristicAugment(policy: .dermatology)
        }
    }

    /// One augmented copy of `image`: every policy in order.
    public func apply(_ image: Tensor, rng: inout RNG) -> Tensor {
        var x = image
        for p in policies { x = apply(p, x, &rng) }
        return x
    }

    func apply(_ policy: Policy, _ image: Tensor, _ rng: inout RNG) -> Tensor {
        switch policy {
        case .histopathology: return histopathology(image, &rng)
        case .radiology: return radiology(image, &rng)
        case .dermatology: return dermatology(image, &rng)
        case .randaugment: return randAugment(image, &rng)
        case .imagenet: return imagenet(image, &rng)
        }
    }

    /// The source box of a random resized crop (torchvision's `RandomResizedCrop.get_params`: up to ten
    /// draws of area fraction in `scale` and log-uniform aspect ratio in `ratio`; the whole image if none fits).
    static func resizedCropBox(height h: Int, width w: Int, scale: ClosedRange<Float> = 0.08...1,
                               ratio: ClosedRange<Float> = 0.75...(4.0 / 3), rng: inout RNG)
        -> (top: Float, left: Float, height: Float, width: Float) {
        let area = Float(h * w)
        for _ in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * rng.uniform())
            let logRatio = logf(ratio.lowerBound) + (logf(ratio.upperBound) - logf(ratio.lowerBound)) * rng.uniform()
            let r = expf(logRatio)
            let cw = (target * r).squareRoot(), ch = (target / r).squareRoot()
            if cw <= Float(w), ch <= Float(h), cw >= 1, ch >= 1 {
                return (rng.uniform() * (Float(h) - ch), rng.uniform() * (Float(w) - cw), ch, cw)
            }
        }
        return (0, 0, Float(h), Float(w))
    }

    func imagenet(_ image: Tensor, _ rng: inout RNG) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        let box = Self.resizedCropBox(height: h, width: w, rng: &rng)
        var x = Geometry.warp(image, .crop(top: box.top, left: box.left, cropHeight: box.height, cropWidth: box.width,
                                           height: h, width: w), edge: .clamp)
        if rng.uniform() < 0.5 { x = ImageOps.flipHorizontal(x) }
        ColorOps.scale(&x, by: uniform(&rng, 0.6, 1.4))
        ColorOps.adjustContrast(&x, factor: uniform(&rng, 0.6, 1.4))
        ColorOps.adjustSaturation(&x, factor: uniform(&rng, 0.6, 1.4))
        return x
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

    /// One RandAugment op as drawn: its index in `randAugmentOpNames`, the sign of its magnitude, and for
    /// `translate` whether it moves vertically.
    struct RandAugmentStep: Equatable {
        var op: Int
        var sign: Float
        var vertical: Bool
    }

    /// RandAugment's op list (Cubuk et al. 2020, without the ops that need a full-range colour model).
    static let randAugmentOpNames = ["identity", "autocontrast", "rotate", "solarize", "color", "posterize",
                                     "contrast", "brightness", "shear_x", "shear_y", "translate"]

    /// The `randAugmentOps` ops of one image, each drawn uniformly with a random sign.
    func randAugmentSteps(_ rng: inout RNG) -> [RandAugmentStep] {
        (0..<randAugmentOps).map { _ in
            let sign: Float = rng.uniform() < 0.5 ? -1 : 1
            let op = rng.int(below: Self.randAugmentOpNames.count)
            return RandAugmentStep(op: op, sign: sign, vertical: op == 10 && rng.uniform() < 0.5)
        }
    }

    /// One op at magnitude `magnitude` (of 10): rotation ±30°·M/10, colour/contrast/brightness factor
    /// 1 ± 0.9·M/10, shear ±0.3·M/10, translation ±0.45·M/10 of half the side, solarize threshold 1 − M/10,
    /// posterize to 8 − round(4·M/10) bits.
    static func randAugmentOp(_ step: RandAugmentStep, _ image: Tensor, magnitude: Int) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        let m = Float(magnitude) / 10, sign = step.sign
        var x = image
        switch step.op {
        case 0: break                                                         // identity
        case 1: x = autoContrast(x)
        case 2: x = Geometry.warp(x, .rotation(degrees: sign * 30 * m, height: h, width: w), edge: .zero)
        case 3: x = solarize(x, threshold: 1 - m)
        case 4: ColorOps.adjustSaturation(&x, factor: 1 + sign * 0.9 * m)
        case 5: x = posterize(x, bits: 8 - Int((4 * m).rounded()))
        case 6: ColorOps.adjustContrast(&x, factor: 1 + sign * 0.9 * m)
        case 7: ColorOps.scale(&x, by: 1 + sign * 0.9 * m)
        case 8: x = Geometry.warp(x, .shearTranslate(sx: sign * 0.3 * m, sy: 0, tx: 0, ty: 0, height: h, width: w), edge: .zero)
        case 9: x = Geometry.warp(x, .shearTranslate(sx: 0, sy: sign * 0.3 * m, tx: 0, ty: 0, height: h, width: w), edge: .zero)
        default:
            let t = sign * 0.45 * m * Float(w) / 2
            x = step.vertical
                ? Geometry.warp(x, .shearTranslate(sx: 0, sy: 0, tx: 0, ty: t, height: h, width: w), edge: .zero)
                : Geometry.warp(x, .shearTranslate(sx: 0, sy: 0, tx: t, ty: 0, height: h, width: w), edge: .zero)
        }
        return x
    }

    /// RandAugment (Cubuk et al. 2020): `randAugmentOps` ops drawn uniformly, each at magnitude M/10 with a
    /// random sign where the op has one.
    func randAugment(_ image: Tensor, _ rng: inout RNG) -> Tensor {
        randAugmentSteps(&rng).reduce(image) { Self.randAugmentOp($1, $0, magnitude: randAugmentMagnitude) }
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

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
