/// The manifest of a drop (DESIGN §3): `inbox/NAME.yaml` (or `.json`) naming the archive beside it and
/// describing its table. Parse and validate with `Manifest.load(path:)`; the model is `Codable` and its
/// `canonicalJSON()` is stable, so pipeline stages can hash their config slices.
public struct Manifest: Codable, Equatable, Sendable {
    /// The dataset's name in the store: `[a-z0-9][a-z0-9-]{0,63}`.
    public var name: String
    /// File name of the archive, beside the manifest (no path separators).
    public var archive: String
    /// Imaging modality; picks modality defaults downstream.
    public var modality: Modality
    /// Path of the CSV table inside the archive.
    public var table: String
    /// Column of the table holding each image's path inside the archive.
    public var imageColumn: String
    /// How labels are read.
    public var label: LabelSpec
    /// Sensitive attributes: categorical columns (blank = unknown).
    public var attributes: [String]
    /// Optional site / hospital column.
    public var domainColumn: String?
    /// Optional split column (`train | val | test_id | test_ood | unlabeled`); without it every row is `train`.
    public var splitColumn: String?
    /// Classes whose sensitivity is reported (a subset of `label.classes`).
    public var highRisk: [String]
    /// Pipeline knobs; every key optional (defaults from modality and DESIGN §7).
    public var pipeline: PipelineConfig
    /// The optional `experiment:` block: a sweep of runs over this drop (docs/experiments.md); nil for one run.
    public var experiment: ExperimentSpec? = nil

    enum CodingKeys: String, CodingKey {
        case name, archive, modality, table, label, attributes, pipeline, experiment
        case imageColumn = "image_column", domainColumn = "domain_column"
        case splitColumn = "split_column", highRisk = "high_risk"
    }

    public init(name: String, archive: String, modality: Modality, table: String, imageColumn: String,
                label: LabelSpec, attributes: [String] = [], domainColumn: String? = nil,
                splitColumn: String? = nil, highRisk: [String] = [], pipeline: PipelineConfig = PipelineConfig()) {
        self.name = name; self.archive = archive; self.modality = modality; self.table = table
        self.imageColumn = imageColumn; self.label = label; self.attributes = attributes
        self.domainColumn = domainColumn; self.splitColumn = splitColumn; self.highRisk = highRisk
        self.pipeline = pipeline
    }

    /// Resolution of the base DDPM (default 32, or the final resolution when that is given and smaller).
    public var baseResolution: Int { pipeline.baseResolution ?? min(32, pipeline.finalResolution ?? 32) }
    /// Resolution of the final images (default 64, or the base resolution when that is larger;
    /// > base ⇒ the upsampler stage runs).
    public var finalResolution: Int { pipeline.finalResolution ?? max(64, baseResolution) }
    /// The square resolutions ingest produces: base and final, ascending, distinct.
    public var resolutions: [Int] { Array(Set([baseResolution, finalResolution])).sorted() }
    /// What an empty `multi` label cell means: `label.blank`, else `negative` for radiology (the CheXpert
    /// convention: an unmentioned finding is absent) and `unknown` for every other modality.
    public var blankCells: BlankCell { label.blank ?? (modality == .radiology ? .negative : .unknown) }
}

/// The meaning of an empty cell in a `multi` label column (`label.blank`). A `-1` cell is "uncertain"
/// whatever this says: masked for the classifier, conditioned on as 0.5 by the generator.
public enum BlankCell: String, Codable, Sendable, CaseIterable {
    /// The condition is absent: a known 0 (CheXpert: "unmentioned" is negative).
    case negative
    /// Nothing is known: masked for the classifier and 0 in the generator's conditioning.
    case unknown
}

/// Imaging modality of a drop.
public enum Modality: String, Codable, Sendable, CaseIterable {
    case histopathology, radiology, dermatology, generic
}

/// Label kind: one class per row, several 0/1 conditions per row, or a distribution per row.
public enum LabelKind: String, Codable, Sendable, CaseIterable {
    case single, multi, soft
}

/// The `label:` block.
public struct LabelSpec: Codable, Equatable, Sendable {
    public var kind: LabelKind
    /// `single`: the column of class names.
    public var column: String?
    /// `multi` (1/0, -1 = uncertain, blank as `blank` says) or `soft` (non-negative weights): one column per class.
    public var columns: [String]?
    /// `soft` from raters: columns holding `condition:confidence;…` per rater.
    public var raterColumns: [String]?
    /// Class (condition) names, in label-vector order.
    public var classes: [String]
    /// `multi` only: what an empty cell means (nil: the modality's default, `Manifest.blankCells`).
    public var blank: BlankCell?

    enum CodingKeys: String, CodingKey {
        case kind, column, columns, classes, blank
        case raterColumns = "rater_columns"
    }

    public init(kind: LabelKind, column: String? = nil, columns: [String]? = nil,
                raterColumns: [String]? = nil, classes: [String], blank: BlankCell? = nil) {
        self.kind = kind; self.column = column; self.columns = columns
        self.raterColumns = raterColumns; self.classes = classes; self.blank = blank
    }
}

/// The `pipeline:` block. `nil` means "not given": the pipeline applies modality / DESIGN §7 defaults.
public struct PipelineConfig: Codable, Equatable, Sendable {
    /// `pipeline.seed`: shifts every random seed of the run (generator, upsampler, sampling, classifiers) —
    /// rerun with another value to check that a result does not rest on lucky seeds. Absent = 0.
    public var seed: Int?
    public var baseResolution: Int?
    public var finalResolution: Int?
    public var ddpm: DDPMConfig?
    public var upsampler: UpsamplerConfig?
    public var sample: SampleConfig?
    public var mix: MixConfig?
    public var classifier: ClassifierConfig?
    public var evaluate: EvaluateConfig?

    enum CodingKeys: String, CodingKey {
        case ddpm, upsampler, sample, mix, classifier, evaluate, seed
        case baseResolution = "base_resolution", finalResolution = "final_resolution"
    }

    public init(baseResolution: Int? = nil, finalResolution: Int? = nil, ddpm: DDPMConfig? = nil,
                upsampler: UpsamplerConfig? = nil, sample: SampleConfig? = nil, mix: MixConfig? = nil,
                classifier: ClassifierConfig? = nil, evaluate: EvaluateConfig? = nil) {
        self.baseResolution = baseResolution; self.finalResolution = finalResolution; self.ddpm = ddpm
        self.upsampler = upsampler; self.sample = sample; self.mix = mix
        self.classifier = classifier; self.evaluate = evaluate
    }
}

/// Noise schedule of the DDPM.
public enum NoiseSchedule: String, Codable, Sendable, CaseIterable { case cosine, linear }

/// `pipeline.ddpm`.
public struct DDPMConfig: Codable, Equatable, Sendable {
    public var steps: Int?
    public var batch: Int?
    public var lr: Double?
    public var schedule: NoiseSchedule?
    /// Conditioning: `label`, `domain`, or attribute names.
    public var cond: [String]?
    /// Probability of dropping the conditioning (classifier-free guidance), in [0, 1).
    public var condDrop: Double?
    /// EMA decay in [0, 1).
    public var ema: Double?
    /// Draw the generator's training images so that every (class, value of this attribute) cell is equally
    /// frequent (`none`: draw rows uniformly). Must be one of `attributes`.
    public var balance: String?
    /// Mirror the generators' (DDPM and upsampler) training images left–right at random (default: off for
    /// radiology, where the heart's side is anatomy, on elsewhere).
    public var hflip: Bool?
    /// Fixed micro-batches each batch is cut into (default 1); with MPI, a multiple of the rank count (docs/mpi.md).
    public var microBatches: Int?

    enum CodingKeys: String, CodingKey {
        case steps, batch, lr, schedule, cond, ema, balance, hflip
        case condDrop = "cond_drop", microBatches = "micro_batches"
    }
    public init() {}
}

/// Low-resolution conditioning augmentation of the upsampler.
public enum UpsamplerAug: String, Codable, Sendable, CaseIterable { case paper, none }

/// `pipeline.upsampler`.
public struct UpsamplerConfig: Codable, Equatable, Sendable {
    public var steps: Int?
    public var batch: Int?
    public var aug: UpsamplerAug?
    /// Fixed micro-batches each batch is cut into (default 1), as `pipeline.ddpm.micro_batches`.
    public var microBatches: Int?

    enum CodingKeys: String, CodingKey {
        case steps, batch, aug
        case microBatches = "micro_batches"
    }
    public init() {}
}

/// Sampling strategy: the paper's fair sampling or img2img translation (majority → minority).
public enum SampleStrategy: String, Codable, Sendable, CaseIterable { case fair, translate }
/// Sampler used at generation time.
public enum SamplerKind: String, Codable, Sendable, CaseIterable { case ddpm, ddim }

/// `pipeline.sample`.
public struct SampleConfig: Codable, Equatable, Sendable {
    public var strategy: SampleStrategy?
    /// Synthetic images per real training image.
    public var perReal: Double?
    /// Classifier-free guidance weight w ≥ 0 (one value; a list in the manifest fills `guidanceSweep`).
    public var guidance: Double?
    /// Guidance weights to choose from on `val` (`guidance: [1, 2, 3]`; ≥ 2 distinct values).
    public var guidanceSweep: [Double]?
    /// Auditor-confidence thresholds to choose from on `val` (`min_confidence: [0, 0.5]`); one value is
    /// used as given.
    public var minConfidence: [Double]?
    /// Pilot images per (class, attribute value) cell for each lever setting.
    public var pilotPerCell: Int?
    public var sampler: SamplerKind?
    public var samplingSteps: Int?
    /// img2img strength for `translate`: the fraction of the noise schedule a real image is noised to, in (0, 1].
    public var strength: Double?

    enum CodingKeys: String, CodingKey {
        case strategy, guidance, sampler, strength
        case perReal = "per_real", samplingSteps = "sampling_steps", guidanceSweep = "guidance_sweep"
        case minConfidence = "min_confidence", pilotPerCell = "pilot_per_cell"
    }
    public init() {}
}

/// `pipeline.mix`: the α sweep (α = probability of drawing a real example).
public struct MixConfig: Codable, Equatable, Sendable {
    public var alpha: [Double]?
    public init() {}
}

/// Classifier backbone.
public enum ClassifierArch: String, Codable, Sendable, CaseIterable { case resnet18, resnet34, resnet50 }
/// Baselines trained beside the synthetic variants. The two stacked ones are opt-in: for every α of the
/// sweep, the α-mixed synthetic training set with the heuristic augmentation (`synthetic+heuristic`) or
/// with the real part oversampled over the attribute (`synthetic+oversample`).
public enum Baseline: String, Codable, Sendable, CaseIterable {
    case none, heuristic, oversample, focal
    case syntheticHeuristic = "synthetic+heuristic"
    case syntheticOversample = "synthetic+oversample"
}

/// `pipeline.classifier.augment`: the heuristic augmentation of the `heuristic` and `synthetic+heuristic`
/// variants, in the paper's terms (Ktena et al., Methods). `imagenet`: the modality's list (histopathology
/// colour jitter; the radiology and dermatology lists; standard ImageNet training for `generic`);
/// `randaugment`: RandAugment (2 ops at magnitude 9); `randaugment+imagenet`: both.
public enum AugmentSetting: String, Codable, Sendable, CaseIterable {
    case imagenet, randaugment
    case randaugmentImagenet = "randaugment+imagenet"

    /// The default per modality: the paper compared only colour augmentation for histopathology; for
    /// dermatology RandAugment was the heuristic that "consistently improved over the baseline"; for
    /// radiology the paper reports no single winner among its three, so the default stacks both;
    /// `generic` keeps RandAugment.
    public static func `default`(for modality: Modality) -> AugmentSetting {
        switch modality {
        case .histopathology: return .imagenet
        case .radiology: return .randaugmentImagenet
        case .dermatology, .generic: return .randaugment
        }
    }
}

/// `pipeline.classifier`.
public struct ClassifierConfig: Codable, Equatable, Sendable {
    public var arch: ClassifierArch?
    public var epochs: Int?
    public var batch: Int?
    public var seeds: Int?
    public var baselines: [Baseline]?
    public var augment: AugmentSetting?
    public init() {}
}

/// `pipeline.evaluate`.
public struct EvaluateConfig: Codable, Equatable, Sendable {
    public var mmd: Bool?
    /// How the synthetic variant (its α) is chosen on `val`; see `SelectionRule`.
    public var selection: SelectionRule?
    public init() {}
}

/// `pipeline.evaluate.selection`: the rule that picks the synthetic variant on the `val` split (never on a
/// test split). Multi-label data sets always use val macro AUC.
public enum SelectionRule: String, Codable, CaseIterable, Sendable {
    /// The best val worst-group accuracy among the synthetic variants whose val accuracy is within 0.01 of
    /// the baseline's (the default: the worst group is what synthetic data is for, but not at any cost).
    case worstGroup = "worst_group"
    /// The best val balanced accuracy.
    case balancedAccuracy = "balanced_accuracy"
}
