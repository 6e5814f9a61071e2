import Datasets
import Foundation
import Models

/// How big a run is: `quick` (CI-sized, minutes), `default` (CPU-sized, the demo's profile) or `paper`
/// (the paper's scale and per-modality settings, `PaperPreset`, for big machines). The manifest's
/// `pipeline:` keys override the profile.
public enum Profile: String, Codable, Sendable, CaseIterable {
    case quick, `default`, paper
}

/// The fully resolved configuration of one run: profile defaults overlaid with the manifest's
/// `pipeline:` block. Each stage hashes only its own slice (`ddpm`, `upsampler`, …) into its key,
/// so changing one knob reruns only the stages downstream of it.
public struct ChainConfig: Codable, Sendable, Equatable {
    /// Base DDPM settings (network size, steps, conditioning).
    public struct DDPM: Codable, Sendable, Equatable {
        public var resolution: Int
        public var channels: Int
        public var mults: [Int]
        public var resBlocks: Int
        public var attention: [Int]
        public var steps: Int
        public var batch: Int
        public var lr: Double
        public var schedule: String
        /// `epsilon` or `v`.
        public var prediction: String
        public var timesteps: Int
        /// Conditioning blocks: `label` and attribute names, in vector order.
        public var cond: [String]
        public var condDrop: Double
        public var ema: Double
        public var checkpointEvery: Int
        public var seed: UInt64
        /// Attribute whose values the training draws make equally frequent within each class (nil: draw
        /// rows uniformly).
        public var balance: String? = nil
        /// Random left–right mirroring of the DDPM's and the upsampler's training images (`pipeline.ddpm.hflip`).
        public var hflip: Bool = true
        /// Fixed micro-batches per batch (`pipeline.ddpm.micro_batches`, docs/mpi.md); nil = 1, left out of
        /// the stage key so that keys from before the setting existed are unchanged.
        public var microBatches: Int? = nil
    }

    /// Cascaded upsampler settings (base → final resolution).
    public struct Upsampler: Codable, Sendable, Equatable {
        public var from: Int
        public var to: Int
        public var channels: Int
        public var mults: [Int]
        public var resBlocks: Int
        public var steps: Int
        public var batch: Int
        public var lr: Double
        /// `paper` (noise/blur conditioning augmentation) or `none`.
        public var aug: String
        public var checkpointEvery: Int
        public var seed: UInt64
        /// Fixed micro-batches per batch (`pipeline.upsampler.micro_batches`); nil = 1 (not in the key).
        public var microBatches: Int? = nil
    }

    /// Fair sampling.
    public struct Sample: Codable, Sendable, Equatable {
        /// `fair` (p(y) kept, p(a) uniform) or `translate` (img2img majority → minority).
        public var strategy: String
        /// The attribute made uniform (the first attribute in `ddpm.cond`).
        public var attribute: String?
        public var perReal: Double
        public var guidance: Double
        public var sampler: String
        public var samplingSteps: Int
        /// Translation strength (fraction of the noise schedule) for `translate`.
        public var strength: Double
        public var batch: Int
        public var seed: UInt64
        /// Guidance weights the pilot chooses from on `val` (`LeverPilot`); empty or one entry: `guidance` as is.
        public var guidanceSweep: [Double] = []
        /// Auditor-confidence thresholds the pilot chooses from on `val`: a synthetic image whose auditor
        /// probability of its conditioned class is below the chosen one is redrawn. `[0]`: no filter.
        public var minConfidence: [Double] = [0]
        /// Pilot images per (class, attribute value) cell and lever setting.
        public var pilotPerCell: Int = 8

        /// Guidance weights to try (the sweep, or the one weight).
        public var guidanceCandidates: [Double] { guidanceSweep.count > 1 ? guidanceSweep : [guidance] }
        /// True when fair-sample needs the auditor: a lever to choose, or a filter to apply.
        public var usesAuditor: Bool { guidanceCandidates.count > 1 || minConfidence.contains { $0 > 0 } }
    }

    /// Classifier training and the variants trained.
    public struct Classify: Codable, Sendable, Equatable {
        public var arch: String
        public var widths: [Int]
        public var epochs: Int
        public var batch: Int
        public var lr: Double
        public var seeds: Int
        /// α values of the synthetic variants (each < 1; 1 is the baseline).
        public var alphas: [Double]
        /// Baselines: none (= baseline), heuristic, oversample, focal, and the opt-in stacked
        /// synthetic+heuristic, synthetic+oversample.
        public var baselines: [String]
        /// What `heuristic` and `synthetic+heuristic` apply, as `HeuristicAugment.Policy` names in order:
        /// `pipeline.classifier.augment` (defaulted per modality, `AugmentSetting.default(for:)`) resolved
        /// for the modality (`HeuristicAugment.policies(_:modality:)`).
        public var augment: [String] = [HeuristicAugment.Policy.randaugment.rawValue]
        /// What `oversample` and `synthetic+oversample` even out: an attribute name, `domain`, or nil when
        /// the dataset has neither (`oversampleAttribute`).
        public var oversampleBy: String? = nil
        /// `pipeline.seed` (nil when 0, so that the default run's keys do not move): shifts every classifier
        /// seed by `ChainConfig.seedStride` × this (`ClassifyStage`).
        public var runSeed: Int? = nil
    }

    /// How far apart `pipeline.seed` moves every seed: wider than any per-stage seed or seed index, so two
    /// run seeds never share a stream.
    public static let seedStride: UInt64 = 1000

    /// Blocks per stage and block kind of `classify.arch` (nil: unknown; manifest validation refuses it first).
    public static func resnetLayout(arch: String) -> (blocks: [Int], bottleneck: Bool)? {
        switch arch {
        case ClassifierArch.resnet18.rawValue: return (ResNetConfig.resnet18Blocks, false)
        case ClassifierArch.resnet34.rawValue: return (ResNetConfig.resnet34Blocks, false)
        case ClassifierArch.resnet50.rawValue: return (ResNetConfig.resnet34Blocks, true)
        default: return nil
        }
    }

    /// The grouping rule of oversampling: the fairness attribute (`sample.attribute`) when it is a sensitive
    /// attribute, else the first sensitive attribute, else the domain (histopathology's hospital), else nil.
    public static func oversampleAttribute(manifest m: Manifest, fairAttribute: String?) -> String? {
        if let a = fairAttribute, m.attributes.contains(a) { return a }
        if let a = m.attributes.first { return a }
        return m.domainColumn != nil ? "domain" : nil
    }

    /// Evaluation.
    public struct Evaluate: Codable, Sendable, Equatable {
        public var mmd: Bool
        public var mmdSampleSize: Int
        public var mmdRepeats: Int
        /// How the synthetic variant is chosen on `val` (`pipeline.evaluate.selection`).
        public var selection: SelectionRule = .worstGroup
    }

    public var profile: Profile
    public var threads: Int
    public var ddpm: DDPM
    /// nil when the final resolution equals the base resolution (no cascade).
    public var upsampler: Upsampler?
    public var sample: Sample
    public var classify: Classify
    public var evaluate: Evaluate

    /// Resolves `profile` defaults against the manifest (whose `pipeline:` keys win) and the dataset's table.
    public static func resolve(manifest m: Manifest, profile: Profile, threads: Int) -> ChainConfig {
        let p = m.pipeline
        let base = m.baseResolution, final = m.finalResolution
        let attributes = m.attributes
        let cond = p.ddpm?.cond ?? (["label"] + attributes)
        var ddpm: DDPM
        var up: Upsampler
        var sample = Sample(strategy: "fair", attribute: cond.first { $0 != "label" }, perReal: 1, guidance: 1,
                            sampler: "ddim", samplingSteps: 25, strength: 0.5, batch: 32, seed: 11)
        var classify = Classify(arch: "resnet18", widths: [64, 128, 256, 512], epochs: 30, batch: 64, lr: 0.05,
                                seeds: 5, alphas: [0, 0.25, 0.5, 0.75],
                                baselines: ["none", "heuristic", "oversample", "focal"])
        var evaluate = Evaluate(mmd: true, mmdSampleSize: 300, mmdRepeats: 30)
        switch profile {
        case .quick:
            ddpm = DDPM(resolution: base, channels: 16, mults: [1, 2], resBlocks: 1, attention: [],
                        steps: 300, batch: 16, lr: 2e-3, schedule: "cosine", prediction: "v", timesteps: ManifestLimits.timesteps,
                        cond: cond, condDrop: 0.1, ema: 0.99, checkpointEvery: 50, seed: 1)
            up = Upsampler(from: base, to: final, channels: 16, mults: [1, 2], resBlocks: 1, steps: 100,
                           batch: 8, lr: 2e-3, aug: "paper", checkpointEvery: 50, seed: 2)
            sample.samplingSteps = 10
            sample.perReal = 0.5
            classify.widths = [16, 32, 64, 128]
            classify.epochs = 4
            classify.seeds = 1
            classify.alphas = [0.5]
            // The stacked variants run here (one α, one seed) so every CI run trains them end to end.
            classify.baselines = ["none", "oversample", Baseline.syntheticHeuristic.rawValue, Baseline.syntheticOversample.rawValue]
            evaluate.mmdSampleSize = 100
            evaluate.mmdRepeats = 10
        case .default:
            // Tuned on the demo (docs/workflow.md): more, smaller steps for the generator, an upsampler
            // trained long enough to stop adding speckle, and 40 DDIM steps (with 15 or 25 the synthetic
            // data did not help); heuristic and focal move to the paper profile to keep the demo under 15 min.
            // Three seeds so the paired intervals mean something (issue 11); one α, with the stacked
            // synthetic+oversample beside the plain mix, both chosen between on val. The sampling levers
            // (guidance, confidence filter) are not swept here: a pilot per setting does not fit the budget.
            ddpm = DDPM(resolution: base, channels: 32, mults: [1, 2], resBlocks: 1, attention: [],
                        steps: 1600, batch: 16, lr: 2e-3, schedule: "cosine", prediction: "v", timesteps: ManifestLimits.timesteps,
                        cond: cond, condDrop: 0.1, ema: 0.995, checkpointEvery: 100, seed: 1)
            // 1200 upsampler steps (was 600): the report's real-vs-synthetic grids showed the speckle an
            // undertrained upsampler paints over every cell (read as psoriasis scale by the classifier); on the
            // demo 1800 steps cleaned it up and lifted the synthetic variants (docs/workflow.md, issue 11), 1200
            // is what the 15-minute budget leaves room for.
            up = Upsampler(from: base, to: final, channels: 16, mults: [1, 2], resBlocks: 1, steps: 1200,
                           batch: 16, lr: 2e-3, aug: "paper", checkpointEvery: 100, seed: 2)
            sample.samplingSteps = 40
            sample.perReal = 1
            classify.widths = [16, 32, 64, 128]
            classify.epochs = 5
            classify.seeds = 3
            classify.alphas = [0.5]
            classify.baselines = ["none", "oversample", Baseline.syntheticOversample.rawValue]
            evaluate.mmdSampleSize = 200
            evaluate.mmdRepeats = 20
        case .paper:
            let ref = UNetConfig.reference(resolution: base)
            ddpm = DDPM(resolution: base, channels: ref.baseChannels, mults: ref.mults, resBlocks: ref.resBlocks,
                        attention: ref.attnResolutions, steps: 20_000, batch: 32, lr: 2e-4, schedule: "cosine",
                        prediction: "epsilon", timesteps: ManifestLimits.timesteps, cond: cond, condDrop: 0.1, ema: 0.9999,
                        checkpointEvery: 1000, seed: 1)
            up = Upsampler(from: base, to: final, channels: ref.baseChannels, mults: ref.mults,
                           resBlocks: ref.resBlocks, steps: 20_000, batch: 16, lr: 2e-4, aug: "paper",
                           checkpointEvery: 1000, seed: 2)
            sample.samplingSteps = 50
            sample.perReal = 10
            sample.guidance = 1
            // Big machines can afford the lever pilot: guidance and the confidence filter chosen on val.
            sample.guidanceSweep = [1, 2, 3]
            sample.minConfidence = [0, 0.5]
        }
        // CPU-sized profiles train the generator for few steps; drawing the fairness attribute's values
        // equally often within each class (what fair-sample will ask for) gives the minority group enough
        // of those steps to learn its appearance.
        if profile != .paper, let a = sample.attribute, attributes.contains(a) { ddpm.balance = a }
        // A mirrored chest X-ray puts the heart on the wrong side: radiology keeps laterality by default.
        ddpm.hflip = m.modality != .radiology
        // The manifest's keys win over the profile.
        if let d = p.ddpm {
            if let v = d.steps { ddpm.steps = v }
            if let v = d.batch { ddpm.batch = v }
            if let v = d.lr { ddpm.lr = v }
            if let v = d.schedule { ddpm.schedule = v.rawValue }
            if let v = d.condDrop { ddpm.condDrop = v }
            if let v = d.ema { ddpm.ema = v }
            if let v = d.balance { ddpm.balance = v == "none" ? nil : v }
            if let v = d.hflip { ddpm.hflip = v }
            if let v = d.microBatches { ddpm.microBatches = v == 1 ? nil : v }
        }
        if let u = p.upsampler {
            if let v = u.steps { up.steps = v }
            if let v = u.batch { up.batch = v }
            if let v = u.aug { up.aug = v.rawValue }
            if let v = u.microBatches { up.microBatches = v == 1 ? nil : v }
        }
        if let s = p.sample {
            if let v = s.strategy { sample.strategy = v.rawValue }
            if let v = s.perReal { sample.perReal = v }
            if let v = s.guidance { sample.guidance = v; sample.guidanceSweep = [] }
            if let v = s.guidanceSweep { sample.guidanceSweep = v }
            if let v = s.minConfidence { sample.minConfidence = v }
            if let v = s.pilotPerCell { sample.pilotPerCell = v }
            if let v = s.sampler { sample.sampler = v.rawValue }
            if let v = s.samplingSteps { sample.samplingSteps = v }
            if let v = s.strength { sample.strength = v }
        }
        if let a = p.mix?.alpha { classify.alphas = a.filter { $0 < 1 } }
        if let c = p.classifier {
            if let v = c.arch { classify.arch = v.rawValue }
            if let v = c.epochs { classify.epochs = v }
            if let v = c.batch { classify.batch = v }
            if let v = c.seeds { classify.seeds = v }
            if let v = c.baselines { classify.baselines = v.map(\.rawValue) }
        }
        if !classify.baselines.contains("none") { classify.baselines.insert("none", at: 0) }
        classify.augment = HeuristicAugment.policies(p.classifier?.augment ?? .default(for: m.modality), modality: m.modality)
            .map(\.rawValue)
        classify.oversampleBy = oversampleAttribute(manifest: m, fairAttribute: sample.attribute)
        // `pipeline.seed` moves every random stream of the run; 0 (or absent) is the profile's own seeds.
        if let s = p.seed, s > 0 {
            let shift = UInt64(s) * seedStride
            ddpm.seed += shift
            up.seed += shift
            sample.seed += shift
            classify.runSeed = s
        }
        if let e = p.evaluate, let v = e.mmd { evaluate.mmd = v }
        if let v = p.evaluate?.selection { evaluate.selection = v }
        return ChainConfig(profile: profile, threads: threads, ddpm: ddpm, upsampler: final > base ? up : nil,
                           sample: sample, classify: classify, evaluate: evaluate)
    }

    /// The variants trained, in report order: baseline, the synthetic α sweep, the stacked synthetic
    /// variants (per α), then the other baselines. Oversampling variants are left out when there is
    /// nothing to group by (a profile default on a dataset without attributes or domain; a manifest that
    /// asks for them is refused at validation).
    public var variants: [Variant] {
        var out: [Variant] = [.baseline]
        let alphas = classify.alphas.sorted(by: >)
        out += alphas.map { .synthetic(alpha: $0) }
        let canOversample = classify.oversampleBy != nil
        if classify.baselines.contains(Baseline.syntheticHeuristic.rawValue) { out += alphas.map { .syntheticHeuristic(alpha: $0) } }
        if classify.baselines.contains(Baseline.syntheticOversample.rawValue), canOversample {
            out += alphas.map { .syntheticOversample(alpha: $0) }
        }
        for b in classify.baselines {
            switch b {
            case "heuristic": out.append(.heuristic)
            case "oversample" where canOversample: out.append(.oversample)
            case "focal": out.append(.focal)
            default: break
            }
        }
        return out
    }
}

/// One classifier variant (DESIGN §6 names).
public enum Variant: Equatable, Sendable, Hashable {
    case baseline, heuristic, oversample, focal
    case synthetic(alpha: Double)
    /// The α mix with the heuristic augmentation on every example (`synthetic_a0.50+heuristic`).
    case syntheticHeuristic(alpha: Double)
    /// The α mix whose real part is oversampled over the attribute (`synthetic_a0.50+oversample`).
    case syntheticOversample(alpha: Double)

    /// `baseline`, `synthetic_a0.50`, `synthetic_a0.50+heuristic`, …
    public var name: String {
        switch self {
        case .baseline: return "baseline"
        case .heuristic: return "heuristic"
        case .oversample: return "oversample"
        case .focal: return "focal"
        case .synthetic(let a): return "synthetic_a" + String(format: "%.2f", a)
        case .syntheticHeuristic(let a): return Variant.synthetic(alpha: a).name + "+heuristic"
        case .syntheticOversample(let a): return Variant.synthetic(alpha: a).name + "+oversample"
        }
    }

    /// α of a variant that mixes in synthetic data (plain or stacked); nil otherwise.
    public var syntheticAlpha: Double? {
        switch self {
        case .synthetic(let a), .syntheticHeuristic(let a), .syntheticOversample(let a): return a
        default: return nil
        }
    }

    public var usesSynthetic: Bool { syntheticAlpha != nil }
    /// Whether the heuristic augmentation is applied (`heuristic`, `synthetic…+heuristic`).
    public var usesHeuristic: Bool {
        switch self { case .heuristic, .syntheticHeuristic: return true; default: return false }
    }
    /// Whether the real examples are oversampled over the attribute (`oversample`, `synthetic…+oversample`).
    public var usesOversample: Bool {
        switch self { case .oversample, .syntheticOversample: return true; default: return false }
    }
}
