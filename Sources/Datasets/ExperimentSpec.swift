import Yams

/// The manifest's optional `experiment:` block (docs/experiments.md): one drop fanned out into a family of
/// runs, one per level, that differ only in what the level changes.
///
/// ```yaml
/// experiment:
///   kind: skew                 # skew | label_efficiency | ratio | translation
///   levels: [0, 0.5, 0.9]      # skew: fraction of the minority value's train rows removed, in [0, 1)
///                              # label_efficiency: fraction of train rows kept labeled per group, in (0, 1]
///                              # ratio: synthetic images per real one, in (0, 10]
///   scenarios: [some, few]     # translation only (instead of levels): some | few (none is refused)
///   attribute: skin_tone       # skew, translation, label_efficiency groups (default: the fair-sample attribute)
///   id: tone-skew              # the result's folder name (default: the kind, `_` → `-`)
///   seed: 0                    # which rows are removed / unlabeled (nested across levels)
/// ```
public struct ExperimentSpec: Codable, Equatable, Sendable {
    /// What the levels vary.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Ktena et al. Fig. 4: progressively remove the minority attribute value from the training split.
        case skew
        /// Ktena et al. Ext. Fig. 1a: only a fraction of the training rows keeps its label.
        case labelEfficiency = "label_efficiency"
        /// Sagers et al.: synthetic images per real one, with and without the real data.
        case ratio
        /// Wang et al.: img2img majority → minority with some / few minority images in training.
        case translation
    }

    /// Wang et al.'s training scenarios for translation.
    public enum Scenario: String, Codable, Sendable, CaseIterable {
        /// (i) the minority's rows as dropped.
        case some
        /// (ii) a tenth of the minority's rows (`fewFraction`).
        case few
        /// (iii) no minority rows: refused at validation (the generator would never see the minority's
        /// conditioning, so "translating" to it would produce untrained output).
        case none

        /// Fraction of the minority value's training rows kept.
        public var keep: Double {
            switch self {
            case .some: return 1
            case .few: return ExperimentSpec.fewFraction
            case .none: return 0
            }
        }
    }

    /// Scenario `few` keeps this fraction of the minority's rows (Wang et al.'s Table 3 keeps 56 dark-skin
    /// images against 1,228 light ones, ≈ 4.5 %; a tenth keeps a few rows even on small drops).
    public static let fewFraction = 0.1
    /// Most levels (or scenarios) in one experiment: each is a full run.
    public static let maxLevels = 8
    /// `ratio` levels: Sagers et al. found gains saturating near 10:1.
    public static let ratioRange: ClosedRange<Double> = 0...10

    /// Folder name under `store/datasets/NAME/experiments/`: `[a-z0-9][a-z0-9-]{0,63}`.
    public var id: String
    public var kind: Kind
    /// The swept values (empty for `translation`).
    public var levels: [Double]
    /// `translation` only.
    public var scenarios: [Scenario]
    /// The attribute whose minority value is removed (`skew`, `translation`) or whose values are the groups
    /// of `label_efficiency`; nil: the fair-sample attribute (first attribute of `pipeline.ddpm.cond`).
    public var attribute: String?
    /// Seed of the row choices; the same seed keeps the removed rows nested across levels.
    public var seed: UInt64

    public init(id: String, kind: Kind, levels: [Double] = [], scenarios: [Scenario] = [], attribute: String? = nil,
                seed: UInt64 = 0) {
        self.id = id; self.kind = kind; self.levels = levels; self.scenarios = scenarios
        self.attribute = attribute; self.seed = seed
    }

    /// The manifest text's range of each kind's levels, as an error message states it.
    static func levelRange(_ kind: Kind) -> (range: ClosedRange<Double>, minExclusive: Bool, maxExclusive: Bool, meaning: String) {
        switch kind {
        case .skew: return (0...1, false, true, "the fraction of the minority value's training rows removed")
        case .labelEfficiency: return (0...1, true, false, "the fraction of training rows kept labeled")
        case .ratio: return (ratioRange, true, false, "synthetic images per real training image")
        case .translation: return (0...1, false, false, "")
        }
    }
}

extension ManifestReader {
    /// Parses `experiment:`; every error names the key path and what was expected.
    func experiment(_ node: Node) throws -> ExperimentSpec {
        let keys = try mapping(node, "experiment", allowed: ["id", "kind", "levels", "scenarios", "attribute", "seed"],
                               required: ["kind"])
        let kind = try enumValue(keys["kind"]!, "experiment.kind", ExperimentSpec.Kind.self)
        var spec = ExperimentSpec(id: kind.rawValue.replacingOccurrences(of: "_", with: "-"), kind: kind)
        if let n = keys["id"] {
            let id = try string(n, "experiment.id")
            guard isValidDatasetName(id) else {
                throw DatasetError(.badName, file: file, location: "experiment.id", found: quoted(id),
                                   expected: "a name matching [a-z0-9][a-z0-9-]{0,63}")
            }
            spec.id = id
        }
        if kind == .translation {
            if keys["levels"] != nil {
                throw DatasetError(.unknownKey, file: file, location: "experiment.levels", found: "levels with kind translation",
                                   expected: "experiment.scenarios (some, few) for kind translation")
            }
            guard let n = keys["scenarios"] else {
                throw DatasetError(.missingKey, file: file, location: "experiment.scenarios", found: "nothing (key missing)",
                                   expected: "a list of scenarios (some, few) for kind translation")
            }
            for (i, item) in try list(n, "experiment.scenarios", max: ExperimentSpec.Scenario.allCases.count).enumerated() {
                let path = "experiment.scenarios[\(i)]"
                let s = try enumValue(item, path, ExperimentSpec.Scenario.self)
                guard s != .none else {
                    // Refused rather than run: with no minority row in training the generator never learns the
                    // minority's conditioning (it is a separate one-hot block, shared with nothing), so every
                    // "translated" image would come from an untrained input.
                    throw DatasetError(.invalidValue, file: file, location: path, found: "\"none\"",
                                       expected: "some or few: with no minority images in training the generator never sees the "
                                           + "minority's conditioning, so fairgen cannot translate to it (scenario none is not supported)")
                }
                guard !spec.scenarios.contains(s) else {
                    throw DatasetError(.invalidValue, file: file, location: path, found: "duplicate \(quoted(s.rawValue))",
                                       expected: "distinct values")
                }
                spec.scenarios.append(s)
            }
        } else {
            if keys["scenarios"] != nil {
                throw DatasetError(.unknownKey, file: file, location: "experiment.scenarios", found: "scenarios with kind \(kind.rawValue)",
                                   expected: "experiment.levels for kind \(kind.rawValue) (scenarios belong to kind translation)")
            }
            let r = ExperimentSpec.levelRange(kind)
            guard let n = keys["levels"] else {
                throw DatasetError(.missingKey, file: file, location: "experiment.levels", found: "nothing (key missing)",
                                   expected: "a list of \(r.meaning)")
            }
            for (i, item) in try list(n, "experiment.levels", max: ExperimentSpec.maxLevels).enumerated() {
                let path = "experiment.levels[\(i)]"
                let v = try double(item, path, r.range, minExclusive: r.minExclusive, maxExclusive: r.maxExclusive)
                guard !spec.levels.contains(v) else {
                    throw DatasetError(.invalidValue, file: file, location: path, found: "duplicate \(v)", expected: "distinct values")
                }
                spec.levels.append(v)
            }
        }
        if let n = keys["attribute"] { spec.attribute = try string(n, "experiment.attribute") }
        if let n = keys["seed"] { spec.seed = UInt64(try int(n, "experiment.seed", 0...Int(Int32.max))) }
        return spec
    }

    /// Cross-key rules of `experiment:` (run after the whole manifest is read).
    func validateExperiment(_ m: Manifest) throws {
        guard let e = m.experiment else { return }
        if let a = e.attribute, !m.attributes.contains(a) {
            throw DatasetError(.invalidValue, file: file, location: "experiment.attribute", found: quoted(a),
                               expected: "one of attributes (\(m.attributes.map(quoted).joined(separator: ", ")))")
        }
        switch e.kind {
        case .skew, .translation:
            guard e.attribute != nil || m.experimentAttribute != nil else {
                throw DatasetError(.missingKey, file: file, location: "experiment.attribute", found: "no attribute to skew",
                                   expected: "attributes in the manifest (kind \(e.kind.rawValue) removes the minority value of one)")
            }
            if e.kind == .translation, let a = m.experimentAttribute, m.fairSampleAttribute != a {
                throw DatasetError(.invalidValue, file: file, location: "experiment.attribute", found: quoted(a),
                                   expected: "the attribute the generator translates to (the first attribute of pipeline.ddpm.cond: "
                                       + (m.fairSampleAttribute.map(quoted) ?? "none") + ")")
            }
        case .labelEfficiency, .ratio:
            break
        }
    }
}

extension Manifest {
    /// The attribute fair sampling makes uniform: the first attribute in `pipeline.ddpm.cond` (default
    /// cond: `label` + every attribute), the same rule as the pipeline's resolved configuration.
    public var fairSampleAttribute: String? {
        (pipeline.ddpm?.cond ?? (["label"] + attributes)).first { $0 != "label" && attributes.contains($0) }
    }

    /// The experiment's attribute: `experiment.attribute`, else the fair-sample attribute, else the first attribute.
    public var experimentAttribute: String? {
        experiment?.attribute ?? fairSampleAttribute ?? attributes.first
    }
}
