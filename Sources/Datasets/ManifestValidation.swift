import Foundation
import Yams

/// Walks a composed YAML tree into a `Manifest`, rejecting unknown keys and mistyped values with the
/// key path (`pipeline.ddpm.lr`) in every error.
struct ManifestReader {
    let file: String

    static func kindName(_ node: Node) -> String {
        switch node {
        case .scalar: return "scalar"
        case .mapping: return "mapping"
        case .sequence: return "list"
        case .alias: return "alias"
        }
    }

    private func fail(_ code: DatasetError.Code, _ path: String, found: String, expected: String) -> DatasetError {
        DatasetError(code, file: file, location: path, found: found, expected: expected)
    }

    private func fail(_ path: String, found: String, expected: String) -> DatasetError {
        DatasetError(.invalidValue, file: file, location: path, found: found, expected: expected)
    }

    private func describe(_ node: Node) -> String {
        if case let .scalar(s) = node { return isNull(node) ? "null" : quoted(s.string) }
        return "a \(ManifestReader.kindName(node))"
    }

    private func isNull(_ node: Node) -> Bool {
        if case let .scalar(s) = node, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) { return true }
        return false
    }

    /// The keys of a mapping; unknown keys and non-string keys are errors.
    func mapping(_ node: Node, _ path: String, allowed: [String], required: [String] = []) throws -> [String: Node] {
        guard case let .mapping(m) = node else {
            throw fail(path, found: describe(node), expected: "a mapping with keys \(allowed.joined(separator: ", "))")
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard case let .scalar(ks) = k else {
                throw fail(.unknownKey, path, found: "a non-string key", expected: "one of \(allowed.joined(separator: ", "))")
            }
            let keyPath = path.isEmpty ? ks.string : path + "." + ks.string
            guard allowed.contains(ks.string) else {
                throw fail(.unknownKey, keyPath, found: "unknown key \(quoted(ks.string))",
                           expected: "one of \(allowed.joined(separator: ", "))")
            }
            out[ks.string] = v
        }
        for key in required where out[key] == nil {
            throw fail(.missingKey, path.isEmpty ? key : path + "." + key, found: "nothing (key missing)",
                       expected: "a value for required key \(quoted(key))")
        }
        return out
    }

    func string(_ node: Node, _ path: String) throws -> String {
        guard case let .scalar(s) = node, !isNull(node), !s.string.isEmpty else {
            throw fail(path, found: describe(node), expected: "a non-empty string")
        }
        return s.string
    }

    /// An integer in `min…max`. Anything else — a fraction, `1e3`, a number past Int's range, text — is
    /// rejected with the key path and the expected range, never converted.
    func int(_ node: Node, _ path: String, _ range: ClosedRange<Int>) throws -> Int {
        let expected = "an integer in \(range.lowerBound)…\(range.upperBound)"
        guard case let .scalar(s) = node, !isNull(node) else { throw fail(path, found: describe(node), expected: expected) }
        guard let v = Int(s.string.replacingOccurrences(of: "_", with: "")), range.contains(v) else {
            throw fail(path, found: quoted(s.string), expected: expected)
        }
        return v
    }

    /// A finite number in `range` (bounds inclusive unless `minExclusive` / `maxExclusive`). NaN, ±∞ and
    /// values past the bounds are rejected with the key path and the expected range.
    func double(_ node: Node, _ path: String, _ range: ClosedRange<Double>, minExclusive: Bool = false,
                maxExclusive: Bool = false) throws -> Double {
        func bound(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)" }
        let lo = (minExclusive ? "(" : "[") + bound(range.lowerBound)
        let hi = bound(range.upperBound) + (maxExclusive ? ")" : "]")
        let expected = "a number in \(lo), \(hi)"
        guard case let .scalar(s) = node, !isNull(node) else { throw fail(path, found: describe(node), expected: expected) }
        guard let v = Double(s.string), v.isFinite,
              minExclusive ? v > range.lowerBound : v >= range.lowerBound,
              maxExclusive ? v < range.upperBound : v <= range.upperBound else {
            throw fail(path, found: quoted(s.string), expected: expected)
        }
        return v
    }

    func bool(_ node: Node, _ path: String) throws -> Bool {
        if case let .scalar(s) = node {
            switch s.string.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: break
            }
        }
        throw fail(path, found: describe(node), expected: "true or false")
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _: E.Type) throws -> E where E.RawValue == String {
        let all = E.allCases.map(\.rawValue).joined(separator: ", ")
        guard case let .scalar(s) = node, let v = E(rawValue: s.string) else {
            throw fail(path, found: describe(node), expected: "one of \(all)")
        }
        return v
    }

    /// One number, or a list of distinct numbers (a lever sweep), each in `range`.
    func numberOrList(_ node: Node, _ path: String, _ range: ClosedRange<Double>) throws -> [Double] {
        guard case .sequence = node else { return [try double(node, path, range)] }
        var values: [Double] = []
        for (i, item) in try list(node, path, max: ManifestLimits.maxLeverValues).enumerated() {
            let v = try double(item, "\(path)[\(i)]", range)
            guard !values.contains(v) else { throw fail("\(path)[\(i)]", found: "duplicate \(v)", expected: "distinct values") }
            values.append(v)
        }
        return values
    }

    func list(_ node: Node, _ path: String, nonEmpty: Bool = true, max: Int) throws -> [Node] {
        guard case let .sequence(seq) = node else {
            throw fail(path, found: describe(node), expected: "a list")
        }
        let items = Array(seq)
        if nonEmpty && items.isEmpty { throw fail(path, found: "an empty list", expected: "a non-empty list") }
        guard items.count <= max else {
            throw fail(path, found: "a list of \(items.count) entries", expected: "at most \(max) entries")
        }
        return items
    }

    /// A list of distinct non-empty strings.
    func stringList(_ node: Node, _ path: String, nonEmpty: Bool = true, max: Int) throws -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for (i, item) in try list(node, path, nonEmpty: nonEmpty, max: max).enumerated() {
            let s = try string(item, "\(path)[\(i)]")
            guard seen.insert(s).inserted else {
                throw fail("\(path)[\(i)]", found: "duplicate \(quoted(s))", expected: "distinct values")
            }
            out.append(s)
        }
        return out
    }

    // MARK: - the manifest

    func manifest(_ root: Node) throws -> Manifest {
        let keys = try mapping(root, "", allowed: ["name", "archive", "modality", "table", "image_column", "label",
                                                   "attributes", "domain_column", "split_column", "high_risk", "pipeline",
                                                   "experiment"],
                               required: ["name", "archive", "modality", "table", "image_column", "label"])
        let name = try string(keys["name"]!, "name")
        guard isValidDatasetName(name) else {
            throw fail(.badName, "name", found: quoted(name), expected: "a name matching [a-z0-9][a-z0-9-]{0,63}")
        }
        let archive = try string(keys["archive"]!, "archive")
        guard isPlainFileName(archive) else {
            throw fail(.archiveOutsideInbox, "archive", found: quoted(archive),
                       expected: "a plain file name beside the manifest (no '/', '\\' or '..')")
        }
        let table = try string(keys["table"]!, "table")
        guard let tableName = try? normalisedEntryName(table), !tableName.hasSuffix("/") else {
            throw fail("table", found: quoted(table), expected: "a relative path inside the archive without '..'")
        }
        var m = Manifest(name: name, archive: archive,
                         modality: try enumValue(keys["modality"]!, "modality", Modality.self),
                         table: tableName,
                         imageColumn: try string(keys["image_column"]!, "image_column"),
                         label: try label(keys["label"]!))
        if let n = keys["attributes"] { m.attributes = try stringList(n, "attributes", nonEmpty: false, max: ManifestLimits.maxAttributes) }
        if let n = keys["domain_column"] { m.domainColumn = try string(n, "domain_column") }
        if let n = keys["split_column"] { m.splitColumn = try string(n, "split_column") }
        if let n = keys["high_risk"] { m.highRisk = try stringList(n, "high_risk", nonEmpty: false, max: ManifestLimits.maxClasses) }
        if let n = keys["pipeline"] { m.pipeline = try pipeline(n) }
        if let n = keys["experiment"] { m.experiment = try experiment(n) }
        return m
    }

    func label(_ node: Node) throws -> LabelSpec {
        let keys = try mapping(node, "label", allowed: ["kind", "column", "columns", "rater_columns", "classes", "blank"],
                               required: ["kind"])
        let kind = try enumValue(keys["kind"]!, "label.kind", LabelKind.self)
        var spec = LabelSpec(kind: kind, classes: [])
        if let n = keys["column"] { spec.column = try string(n, "label.column") }
        if let n = keys["columns"] { spec.columns = try stringList(n, "label.columns", max: ManifestLimits.maxClasses) }
        if let n = keys["rater_columns"] { spec.raterColumns = try stringList(n, "label.rater_columns", max: ManifestLimits.maxRaters) }
        let classes = try keys["classes"].map { try stringList($0, "label.classes", max: ManifestLimits.maxClasses) }
        if let n = keys["blank"] {
            // Only 0/1 columns have a blank cell whose meaning is open; elsewhere it would be silently ignored.
            guard kind == .multi else {
                throw fail(.unknownKey, "label.blank", found: "key \"blank\" with kind \(kind.rawValue)", expected: "label.blank only with kind multi")
            }
            spec.blank = try enumValue(n, "label.blank", BlankCell.self)
        }
        // Which source keys each kind takes; the others must be absent so that nothing is silently ignored.
        let given = ["column": spec.column != nil, "columns": spec.columns != nil, "rater_columns": spec.raterColumns != nil]
        let allowedSources: [String]
        switch kind {
        case .single: allowedSources = ["column"]
        case .multi: allowedSources = ["columns"]
        case .soft: allowedSources = ["columns", "rater_columns"]
        }
        for (key, present) in given.sorted(by: { $0.key < $1.key }) where present && !allowedSources.contains(key) {
            throw fail(.unknownKey, "label.\(key)", found: "key \(quoted(key)) with kind \(kind.rawValue)",
                       expected: "for kind \(kind.rawValue): \(allowedSources.joined(separator: " or "))")
        }
        let present = allowedSources.filter { given[$0]! }
        guard present.count == 1 else {
            throw fail(present.isEmpty ? .missingKey : .invalidValue, "label",
                       found: present.isEmpty ? "no label source" : "both columns and rater_columns",
                       expected: "exactly one of \(allowedSources.joined(separator: ", ")) for kind \(kind.rawValue)")
        }
        if let columns = spec.columns {
            if let classes {
                guard classes.count == columns.count else {
                    throw fail("label.classes", found: "\(classes.count) classes for \(columns.count) columns",
                               expected: "one class per label column")
                }
                spec.classes = classes
            } else {
                spec.classes = columns
            }
        } else {
            guard let classes else {
                throw fail(.missingKey, "label.classes", found: "nothing (key missing)",
                           expected: "the list of class names for kind \(kind.rawValue)")
            }
            spec.classes = classes
        }
        return spec
    }

    func pipeline(_ node: Node) throws -> PipelineConfig {
        let keys = try mapping(node, "pipeline", allowed: ["base_resolution", "final_resolution", "ddpm", "upsampler",
                                                           "sample", "mix", "classifier", "evaluate", "seed"])
        var p = PipelineConfig()
        if let n = keys["seed"] { p.seed = try int(n, "pipeline.seed", ManifestLimits.runSeed) }
        if let n = keys["base_resolution"] { p.baseResolution = try int(n, "pipeline.base_resolution", ManifestLimits.resolution) }
        if let n = keys["final_resolution"] { p.finalResolution = try int(n, "pipeline.final_resolution", ManifestLimits.resolution) }
        if let n = keys["ddpm"] {
            let k = try mapping(n, "pipeline.ddpm", allowed: ["steps", "batch", "lr", "schedule", "cond", "cond_drop", "ema", "balance", "hflip",
                                                                   "micro_batches"])
            var c = DDPMConfig()
            if let v = k["steps"] { c.steps = try int(v, "pipeline.ddpm.steps", ManifestLimits.trainingSteps) }
            if let v = k["batch"] { c.batch = try int(v, "pipeline.ddpm.batch", ManifestLimits.batch) }
            if let v = k["lr"] { c.lr = try double(v, "pipeline.ddpm.lr", ManifestLimits.learningRate) }
            if let v = k["schedule"] { c.schedule = try enumValue(v, "pipeline.ddpm.schedule", NoiseSchedule.self) }
            if let v = k["cond"] { c.cond = try stringList(v, "pipeline.ddpm.cond", nonEmpty: false, max: ManifestLimits.maxAttributes + 2) }
            if let v = k["balance"] { c.balance = try string(v, "pipeline.ddpm.balance") }
            if let v = k["cond_drop"] { c.condDrop = try double(v, "pipeline.ddpm.cond_drop", 0...1, maxExclusive: true) }
            if let v = k["ema"] { c.ema = try double(v, "pipeline.ddpm.ema", 0...1, maxExclusive: true) }
            if let v = k["hflip"] { c.hflip = try bool(v, "pipeline.ddpm.hflip") }
            if let v = k["micro_batches"] { c.microBatches = try int(v, "pipeline.ddpm.micro_batches", ManifestLimits.batch) }
            p.ddpm = c
        }
        if let n = keys["upsampler"] {
            let k = try mapping(n, "pipeline.upsampler", allowed: ["steps", "batch", "aug", "micro_batches"])
            var c = UpsamplerConfig()
            if let v = k["steps"] { c.steps = try int(v, "pipeline.upsampler.steps", ManifestLimits.trainingSteps) }
            if let v = k["batch"] { c.batch = try int(v, "pipeline.upsampler.batch", ManifestLimits.batch) }
            if let v = k["aug"] { c.aug = try enumValue(v, "pipeline.upsampler.aug", UpsamplerAug.self) }
            if let v = k["micro_batches"] { c.microBatches = try int(v, "pipeline.upsampler.micro_batches", ManifestLimits.batch) }
            p.upsampler = c
        }
        if let n = keys["sample"] {
            let k = try mapping(n, "pipeline.sample", allowed: ["strategy", "per_real", "guidance", "min_confidence", "pilot_per_cell",
                                                                "sampler", "sampling_steps", "strength"])
            var c = SampleConfig()
            if let v = k["strategy"] { c.strategy = try enumValue(v, "pipeline.sample.strategy", SampleStrategy.self) }
            if let v = k["per_real"] { c.perReal = try double(v, "pipeline.sample.per_real", ManifestLimits.perReal, minExclusive: true) }
            if let v = k["guidance"] {
                let weights = try numberOrList(v, "pipeline.sample.guidance", ManifestLimits.guidance)
                if weights.count == 1 { c.guidance = weights[0] } else { c.guidanceSweep = weights }
            }
            if let v = k["min_confidence"] {
                c.minConfidence = try numberOrList(v, "pipeline.sample.min_confidence", ManifestLimits.minConfidence)
            }
            if (c.guidanceSweep?.count ?? 1) * (c.minConfidence?.count ?? 1) > ManifestLimits.maxLeverPairs {
                throw fail("pipeline.sample", found: "\((c.guidanceSweep?.count ?? 1) * (c.minConfidence?.count ?? 1)) guidance × min_confidence pairs",
                           expected: "at most \(ManifestLimits.maxLeverPairs) (each pair costs a pilot draw)")
            }
            if let v = k["pilot_per_cell"] { c.pilotPerCell = try int(v, "pipeline.sample.pilot_per_cell", ManifestLimits.pilotPerCell) }
            if let v = k["sampler"] { c.sampler = try enumValue(v, "pipeline.sample.sampler", SamplerKind.self) }
            if let v = k["sampling_steps"] { c.samplingSteps = try int(v, "pipeline.sample.sampling_steps", ManifestLimits.samplingSteps) }
            if let v = k["strength"] { c.strength = try double(v, "pipeline.sample.strength", 0...1, minExclusive: true) }
            p.sample = c
        }
        if let n = keys["mix"] {
            let k = try mapping(n, "pipeline.mix", allowed: ["alpha"])
            var c = MixConfig()
            if let v = k["alpha"] {
                var alphas: [Double] = []
                for (i, item) in try list(v, "pipeline.mix.alpha", max: ManifestLimits.maxAlphas).enumerated() {
                    let a = try double(item, "pipeline.mix.alpha[\(i)]", 0...1)
                    guard !alphas.contains(a) else {
                        throw fail("pipeline.mix.alpha[\(i)]", found: "duplicate \(a)", expected: "distinct values")
                    }
                    alphas.append(a)
                }
                c.alpha = alphas
            }
            p.mix = c
        }
        if let n = keys["classifier"] {
            let k = try mapping(n, "pipeline.classifier", allowed: ["arch", "epochs", "batch", "seeds", "baselines", "augment"])
            var c = ClassifierConfig()
            if let v = k["arch"] {
                let arch = try enumValue(v, "pipeline.classifier.arch", ClassifierArch.self)
                c.arch = arch
            }
            if let v = k["epochs"] { c.epochs = try int(v, "pipeline.classifier.epochs", ManifestLimits.epochs) }
            if let v = k["batch"] { c.batch = try int(v, "pipeline.classifier.batch", ManifestLimits.classifierBatch) }
            if let v = k["seeds"] { c.seeds = try int(v, "pipeline.classifier.seeds", ManifestLimits.seeds) }
            if let v = k["baselines"] {
                var out: [Baseline] = []
                for (i, item) in try list(v, "pipeline.classifier.baselines", nonEmpty: false, max: Baseline.allCases.count).enumerated() {
                    let b = try enumValue(item, "pipeline.classifier.baselines[\(i)]", Baseline.self)
                    guard !out.contains(b) else {
                        throw fail("pipeline.classifier.baselines[\(i)]", found: "duplicate \(quoted(b.rawValue))", expected: "distinct values")
                    }
                    out.append(b)
                }
                c.baselines = out
            }
            if let v = k["augment"] { c.augment = try enumValue(v, "pipeline.classifier.augment", AugmentSetting.self) }
            p.classifier = c
        }
        if let n = keys["evaluate"] {
            let k = try mapping(n, "pipeline.evaluate", allowed: ["mmd", "selection"])
            var c = EvaluateConfig()
            if let v = k["mmd"] { c.mmd = try bool(v, "pipeline.evaluate.mmd") }
            if let v = k["selection"] { c.selection = try enumValue(v, "pipeline.evaluate.selection", SelectionRule.self) }
            p.evaluate = c
        }
        return p
    }

    // MARK: - cross-key rules

    func validate(_ m: Manifest) throws {
        for (i, c) in m.highRisk.enumerated() where !m.label.classes.contains(c) {
            throw fail(.labelOutsideClasses, "high_risk[\(i)]", found: quoted(c),
                       expected: "one of label.classes (\(m.label.classes.joined(separator: ", ")))")
        }
        let base = m.baseResolution, final = m.finalResolution
        let step = ManifestLimits.resolutionMultiple
        for (key, r) in [("pipeline.base_resolution", base), ("pipeline.final_resolution", final)] where r % step != 0 {
            throw fail(key, found: "\(r)", expected: "a multiple of \(step) in \(ManifestLimits.resolution.lowerBound)…\(ManifestLimits.resolution.upperBound)")
        }
        // Any factor works: the upsampler's conditioning image is a bilinear resize to the exact final size
        // (the paper's radiology cascade is 64 → 224, a factor of 3.5).
        guard final >= base else {
            throw fail("pipeline.final_resolution", found: "\(final) with base_resolution \(base)",
                       expected: "a resolution ≥ base_resolution")
        }
        let batches: [(String, Int?, Int)] = [("pipeline.ddpm.batch", m.pipeline.ddpm?.batch, base),
                                              ("pipeline.upsampler.batch", m.pipeline.upsampler?.batch, final),
                                              ("pipeline.classifier.batch", m.pipeline.classifier?.batch, final)]
        for (key, batch, r) in batches {
            guard let batch else { continue }
            // Both factors are bounded by the key ranges, so the product cannot overflow.
            guard batch * r * r <= ManifestLimits.maxBatchPixels else {
                throw fail(key, found: "\(batch) at \(r)×\(r)",
                           expected: "batch × resolution² ≤ \(ManifestLimits.maxBatchPixels) (at most \(ManifestLimits.maxBatchPixels / (r * r)) at \(r)×\(r))")
            }
        }
        if let cond = m.pipeline.ddpm?.cond {
            var allowed = ["label"] + m.attributes
            if m.domainColumn != nil { allowed.append("domain") }
            for (i, c) in cond.enumerated() where !allowed.contains(c) {
                throw fail("pipeline.ddpm.cond[\(i)]", found: quoted(c), expected: "one of \(allowed.joined(separator: ", "))")
            }
        }
        if let b = m.pipeline.ddpm?.balance, b != "none", !m.attributes.contains(b) {
            throw fail("pipeline.ddpm.balance", found: quoted(b), expected: "none or one of attributes (\(m.attributes.joined(separator: ", ")))")
        }
        // Oversampling resamples over an attribute (or the domain); with neither there is nothing to even out.
        if m.attributes.isEmpty, m.domainColumn == nil, let baselines = m.pipeline.classifier?.baselines {
            for (i, b) in baselines.enumerated() where b == .oversample || b == .syntheticOversample {
                throw fail("pipeline.classifier.baselines[\(i)]", found: quoted(b.rawValue),
                           expected: "attributes or domain_column to resample over (this manifest has neither)")
            }
        }
        if let s = m.pipeline.sample, s.sampler == .ddim, let steps = s.samplingSteps, steps < 5 {
            throw fail("pipeline.sample.sampling_steps", found: "\(steps)", expected: "at least 5 steps for the ddim sampler")
        }
        try validateExperiment(m)
    }
}
