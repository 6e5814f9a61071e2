import Datasets

/// The `paper` profile's per-modality settings: what Ktena et al. (2024, Methods) used for each of their three
/// settings. Source: `shared/seeds/000_68b59c258d42e78a.txt` (the paper's Methods text) — "Histopathology",
/// "Radiology", "Dermatology", "Mixing ratio" and "Heuristic augmentations" paragraphs, quoted below.
///
/// A preset fills only what the manifest leaves out — a `pipeline:` key in the manifest always wins — and
/// the filled-in manifest is validated again, so a manifest whose own keys do not fit the preset (e.g. a
/// classifier batch too large for 256 px) is refused before anything runs.
public enum PaperPreset {
    /// The settings of one modality; nil fields leave the profile's generic choice.
    public struct Settings: Sendable, Equatable {
        /// Base and final resolution (only when the manifest gives neither).
        public var resolutions: (base: Int, final: Int)?
        /// `ddpm.cond` (entries the dataset lacks — `domain` without a `domain_column`, an attribute it does
        /// not list — are left out).
        public var cond: [String]
        /// `mix.alpha`: the probability of a real example the paper reports as its best.
        public var alphas: [Double]
        /// `classifier.baselines`.
        public var baselines: [Baseline]
        /// The heuristic-augmentation baseline's list (`HeuristicAugment.Policy`), as in the paper.
        public var augment: HeuristicAugment.Policy

        public static func == (a: Settings, b: Settings) -> Bool {
            a.resolutions?.base == b.resolutions?.base && a.resolutions?.final == b.resolutions?.final
                && a.cond == b.cond && a.alphas == b.alphas && a.baselines == b.baselines && a.augment == b.augment
        }
    }

    /// The paper's settings for `m`'s modality (nil for `generic`, which the paper does not cover).
    public static func settings(for m: Manifest) -> Settings? {
        switch m.modality {
        case .histopathology:
            // "we trained a diffusion model to generate images at 96×96 resolution … we considered either the
            // diagnostic label … or the diagnostic label and hospital ID together … sampled … assuming a uniform
            // distribution across hospital IDs … The synthetic-to-real data ratio used in histopathology is
            // 50:50". Heuristic baseline: "brightness, contrast, saturation and hue jitter" (colour augm.).
            return Settings(resolutions: (96, 96), cond: ["label"] + (m.domainColumn != nil ? ["domain"] : []),
                            alphas: [0.5], baselines: [.none, .heuristic], augment: .histopathology)
        case .radiology:
            // "two diffusion models (one generating images at 64×64 resolution and one upsampling those generated
            // images to 224×224 resolution) … We conditioned both generative models on the diagnostic label only
            // … training the downstream diagnostic model purely on synthetic data led to the best accuracy and
            // fairness trade-off" (α = 0). Baselines: ImageNet-style augmentation (flip, crop 202, resize 224,
            // rotation 15°, luminance ±0.1, contrast 0.8–1.2) and focal loss.
            return Settings(resolutions: (64, 224), cond: ["label"], alphas: [0], baselines: [.none, .heuristic, .focal],
                            augment: .radiology)
        case .dermatology:
            // "one generating images at 64×64 resolution and one upsampling those generated images to 256×256 …
            // conditioned both generative models on the diagnostic label … or the diagnostic label and a
            // demographic attribute … 75% synthetic images and 25% real images yielded the best results" (α = 0.25).
            // Baselines: heuristic augmentation (flips, brightness 0.1, saturation 0.8–1.2, hue 0.02, contrast
            // 0.8–1.2, rotation ±150°, blur σ ∈ {0.001 … 7}), resampling to even attributes, focal loss.
            return Settings(resolutions: (64, 256), cond: ["label"] + m.attributes.prefix(1),
                            alphas: [0.25], baselines: [.none, .heuristic, .oversample, .focal], augment: .dermatology)
        case .generic:
            return nil
        }
    }

    /// `m` with its modality's paper settings filled in where the manifest is silent, validated again.
    /// `file` names the manifest in errors.
    public static func apply(to m: Manifest, file: String) throws -> Manifest {
        guard let s = settings(for: m) else { return m }
        var out = m
        var p = out.pipeline
        if let r = s.resolutions, p.baseResolution == nil, p.finalResolution == nil {
            p.baseResolution = r.base
            p.finalResolution = r.final
        }
        var ddpm = p.ddpm ?? DDPMConfig()
        if ddpm.cond == nil { ddpm.cond = s.cond }
        p.ddpm = ddpm
        var mix = p.mix ?? MixConfig()
        if mix.alpha == nil { mix.alpha = s.alphas }
        p.mix = mix
        var classifier = p.classifier ?? ClassifierConfig()
        if classifier.baselines == nil { classifier.baselines = s.baselines }
        p.classifier = classifier
        out.pipeline = p
        do {
            try out.validate(file: file)
        } catch var e as DatasetError {
            let r = out.pipeline
            e.found += " (the paper profile's \(m.modality.rawValue) preset sets base_resolution \(r.baseResolution ?? out.baseResolution),"
                + " final_resolution \(r.finalResolution ?? out.finalResolution))"
            throw e
        }
        return out
    }
}
