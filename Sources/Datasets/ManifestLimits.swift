/// The range of every numeric manifest key and the size limits of a manifest (docs/manifest.md lists
/// them). Each bound keeps a validated manifest inside what the pipeline can run without a precondition
/// failure, an overflowing conversion or an allocation the machine cannot hold: ingest checks them, so a
/// bad value is a one-line error naming the key instead of a crash hours into a run.
public enum ManifestLimits {
    /// Square image sizes (`pipeline.base_resolution`, `final_resolution`); also a multiple of
    /// `resolutionMultiple`, because the generator UNets halve the size twice and must land on whole pixels.
    public static let resolution: ClosedRange<Int> = 4...256
    public static let resolutionMultiple = 4
    /// `pipeline.ddpm.steps`, `pipeline.upsampler.steps` (the paper trains 20,000).
    public static let trainingSteps: ClosedRange<Int> = 1...1_000_000
    /// `pipeline.ddpm.batch`, `pipeline.upsampler.batch`.
    public static let batch: ClosedRange<Int> = 1...1024
    /// `pipeline.classifier.batch`: batch norm needs two values per channel in training, and the last
    /// ResNet stage can be 1×1.
    public static let classifierBatch: ClosedRange<Int> = 2...1024
    /// Images × pixels of one training batch (batch × resolution²) for the generator, the upsampler and
    /// the classifier: beyond it one activation no longer fits in memory.
    public static let maxBatchPixels = 1 << 22
    /// `pipeline.ddpm.lr`. Training runs in Float: a smaller positive rate would round to 0 (found by the
    /// fuzz test in PipelineTests).
    public static let learningRate: ClosedRange<Double> = 1e-8...1
    /// `pipeline.sample.per_real` (exclusive of 0: the chain always samples): synthetic images per real
    /// training image.
    public static let perReal: ClosedRange<Double> = 0...100
    /// `pipeline.sample.guidance`: classifier-free guidance weight.
    public static let guidance: ClosedRange<Double> = 0...100
    /// The diffusion schedules' length T in every profile; DDIM cannot take more steps than that.
    public static let timesteps = 1000
    /// `pipeline.sample.sampling_steps` (at least 5 with `ddim`).
    public static let samplingSteps: ClosedRange<Int> = 1...timesteps
    /// `pipeline.classifier.epochs`.
    public static let epochs: ClosedRange<Int> = 1...1000
    /// `pipeline.classifier.seeds`.
    public static let seeds: ClosedRange<Int> = 1...100
    /// `pipeline.seed`, the run's seed shift.
    public static let runSeed: ClosedRange<Int> = 0...1_000_000
    /// `label.classes` / `label.columns` (and so `high_risk`).
    public static let maxClasses = 1000
    /// `attributes` (`pipeline.ddpm.cond` may also hold `label` and `domain`).
    public static let maxAttributes = 32
    /// `label.rater_columns`.
    public static let maxRaters = 64
    /// `pipeline.mix.alpha` entries.
    public static let maxAlphas = 21
    /// Entries of the lever sweeps `pipeline.sample.guidance` and `pipeline.sample.min_confidence`: each
    /// pair costs one pilot draw, so the product is bounded too (`maxLeverPairs`).
    public static let maxLeverValues = 8
    public static let maxLeverPairs = 16
    /// `pipeline.sample.min_confidence`: the auditor's probability of the conditioned class below which a
    /// synthetic image is redrawn (1 would reject everything).
    public static let minConfidence: ClosedRange<Double> = 0...0.99
    /// `pipeline.sample.pilot_per_cell`: pilot images per (class, attribute value) cell and lever setting.
    public static let pilotPerCell: ClosedRange<Int> = 2...256
    /// Table rows × classes: the label vectors and masks ingest holds (checked before each row is stored).
    public static let maxLabelEntries = 1 << 24
}
