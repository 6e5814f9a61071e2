import Classifier
import Datasets
import Diffusion
import Foundation
import NN
import Store
import Tensors

/// The `fair-sample` stage (Ktena et al.): synthetic training images whose label distribution is the
/// training set's (p̂(y) = p(y)) and whose sensitive attribute is uniform (p̂(a) uniform), generated
/// with classifier-free guidance w; or, with strategy `translate`, real images of the majority
/// attribute value translated to the planned value (img2img, Wang et al. 2024).
///
/// Outputs: `shard-NNNNN` (WebDataset tar shards: `000123.png` + `000123.json`) and one
/// `grid-III-<slug>` PNG per class (rows: attribute values; left of a gap, real training images of the cell,
/// right of it, synthetic samples); see `GridCollector.fileName`.
public enum FairSampleStage {
    /// fair-sample-2: grid outputs are named by class index (`grid-000-<slug>`), not by class name alone.
    /// fair-sample-3: guidance and the confidence filter can be chosen on val (`LeverPilot`); `levers` output;
    /// soft and multi-label samples carry their classifier target (`target`, `unknown`).
    /// fair-sample-4: each grid row starts with real training images of its cell, for comparison.
    public static let codeVersion = "fair-sample-4"
    /// Samples per row of a class grid.
    static let gridColumns = 6
    /// Real training images per row of a class grid, left of the samples: a reader judges a cell's samples
    /// against what the generator was shown (speckle, faint lesions and copies are obvious side by side).
    static let gridRealColumns = 3

    struct Slice: Encodable {
        var sample: ChainConfig.Sample
        var threads: Int
    }

    /// One planned synthetic example: the conditioning vector and what its shard JSON says.
    struct Planned {
        var cond: [Float]
        var label: String
        var attributes: [String: String]
        /// The classifier target when it is not `label`'s one-hot (soft, multi), and its unknown classes.
        var target: [Float]? = nil
        var unknown: [Int] = []
        /// For `translate`: the real training row (at base resolution) to translate.
        var source: Int?
    }

    /// Input name of the auditor checkpoint (the baseline's seed-0 classifier), present when a lever is
    /// chosen on `val` or a confidence filter applies (`ChainConfig.Sample.usesAuditor`).
    static let auditorInput = "auditor"
    /// Output name of the levers' record (`LeverPilot`), present with the auditor.
    public static let leversOutput = "levers"
    /// Redraws of an image the confidence filter rejects, before the last draw is kept anyway (so every
    /// planned image exists and p(y), p(a) stay as planned).
    static let maxRedraws = 3

    public static func stage(config: ChainConfig, dataset: ObjectID, ddpm: ObjectID, upsampler: ObjectID?,
                             auditor: ObjectID? = nil) throws -> Stage {
        var inputs = ["dataset": dataset, "ddpm": ddpm]
        if let upsampler { inputs["upsampler"] = upsampler }
        if config.sample.usesAuditor {
            guard let auditor else { throw PipelineError("fair-sample: the lever sweep needs the auditor (baseline seed 0)") }
            inputs[auditorInput] = auditor
        }
        let widths = config.classify.widths, arch = config.classify.arch
        return try Stage(name: "fair-sample", codeVersion: codeVersion,
                         config: Slice(sample: config.sample, threads: config.threads), inputs: inputs) { ctx in
            try run(ctx, config: config.sample, auditorWidths: widths, auditorArch: arch)
        }
    }

    static func run(_ ctx: StageContext, config c: ChainConfig.Sample, auditorWidths: [Int], auditorArch: String) throws -> [String: StageOutput] {
        let d = try DatasetObject.decode(ctx.readInput("dataset"))
        let (base, card) = try DiffusionStages.load(ctx.readInput("ddpm"), source: "ddpm checkpoint")
        var up: (model: UNetDenoiser, card: DiffusionStages.ModelCard)? = nil
        if ctx.inputs["upsampler"] != nil {
            up = try DiffusionStages.load(ctx.readInput("upsampler"), source: "upsampler checkpoint")
        }
        let layout = card.layout
        let plan = try makePlan(d.table, layout: layout, config: c)
        guard !plan.isEmpty else { throw PipelineError("fair-sample: nothing to sample (no labeled training rows, or per_real is 0)") }

        let schedule = NoiseSchedule(kind: card.schedule == "linear" ? .linear : .cosine, steps: card.timesteps)
        let prediction: Prediction = card.prediction == "v" ? .v : .epsilon
        // Manifest validation bounds sampling_steps by T; a checkpoint with a shorter schedule must fail the
        // stage, not trip the sampler's precondition and take the process down.
        let ddim = c.sampler != "ddpm"
        if ddim, c.samplingSteps < 5 || c.samplingSteps > card.timesteps {
            throw PipelineError("fair-sample: sampling_steps \(c.samplingSteps) outside 5…\(card.timesteps) (the checkpoint's timesteps)")
        }
        if let up, ddim, c.samplingSteps < 5 || c.samplingSteps > up.card.timesteps {
            throw PipelineError("fair-sample: sampling_steps \(c.samplingSteps) outside 5…\(up.card.timesteps) (the upsampler's timesteps)")
        }
        let channels = card.unet.outChannels
        let baseRes = card.unet.resolution

        let upSchedule = up.map { NoiseSchedule(kind: $0.card.schedule == "linear" ? .linear : .cosine, steps: $0.card.timesteps) }
        let upPrediction: Prediction = up?.card.prediction == "v" ? .v : .epsilon

        /// Draws the planned examples `batch` with guidance `w`; images in [0, 1]. `firstIndex` numbers the
        /// per-image noise streams (distinct numbers give independent images).
        func draw(_ batch: [Planned], guidance w: Double, seed: UInt64, firstIndex: Int) throws -> [Tensor] {
            let settings = SamplerSettings(kind: ddim ? .ddim : .ddpm, steps: c.samplingSteps, guidance: Float(w))
            let baseSampler = Sampler(schedule: schedule, prediction: prediction, settings: settings)
            let cond = layout.batch(batch.map(\.cond))
            var images: Tensor
            if c.strategy == "translate" {
                let real = try DiffusionStages.images(d, rows: batch.map { $0.source! }, resolution: baseRes)
                images = Img2Img.translate(model: base, sampler: baseSampler, images: real, strength: c.strength,
                                           cond: cond, seed: seed, firstIndex: firstIndex)
            } else {
                images = baseSampler.sample(model: base, shape: [batch.count, channels, baseRes, baseRes], cond: cond,
                                            seed: seed, firstIndex: firstIndex)
            }
            if let up, let upSchedule, let aug = up.card.augment, let from = up.card.baseResolution {
                let cascade = Cascade(base: base, baseSampler: baseSampler, upsampler: up.model,
                                      upsamplerSampler: Sampler(schedule: upSchedule, prediction: upPrediction, settings: settings),
                                      conditioner: UpsamplerConditioner(settings: aug, schedule: upSchedule, baseSize: (from, from)),
                                      finalSize: (up.card.unet.resolution, up.card.unet.resolution))
                images = cascade.refine(images, cond: cond, channels: channels, seed: seed, firstIndex: firstIndex)
            }
            let per = images.count / batch.count
            return (0..<batch.count).map { k in
                var img = Tensor(shape: Array(images.shape.dropFirst()), data: Array(images.data[(k * per)..<((k + 1) * per)]))
                img.withUnsafeMutableBufferPointer { q in for i in q.indices { q[i] = min(1, max(0, (q[i] + 1) * 0.5)) } }
                return img
            }
        }

        /// Images in [0, 1] as the auditor takes them.
        func bank(_ images: [Tensor]) -> ImageBank {
            var bank = ImageBank(channels: images[0].shape[0], height: images[0].shape[1], width: images[0].shape[2])
            for img in images { bank.append(img) }
            return bank
        }

        // The levers: chosen on val by a pilot when there is a choice (LeverPilot), else as configured.
        var w = c.guidanceCandidates[0], t = c.minConfidence[0]
        var levers: LeverPilot.Record? = nil
        var audit: ((ImageBank) -> ClassifierOutputs)? = nil
        let classIndex = Dictionary(d.table.classes.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        if ctx.inputs[auditorInput] != nil {
            guard d.table.labelKind != .multi else {
                throw PipelineError("fair-sample: guidance/min_confidence sweeps need single- or soft-label data (the auditor scores one class)")
            }
            let resolution = up?.card.unet.resolution ?? baseRes
            let weights = try SafeTensors.decode(ctx.readInput(auditorInput), source: "auditor checkpoint").tensors
            let auditor = try EvaluateStage.auditor(weights: weights, channels: channels, classes: d.table.classes.count,
                                                    resolution: resolution, widths: auditorWidths, arch: auditorArch)
            audit = auditor
            let attributeIndex = c.attribute.flatMap { d.table.attributes.firstIndex(of: $0) }
            // Value indices as the table numbers them, like the val rows' (not the conditioning layout's order).
            let values = attributeIndex.map { d.table.attributeValues[$0] } ?? []
            func scored(_ images: [Tensor], _ planned: [Planned]) -> LeverPilot.Scored {
                LeverPilot.Scored(outputs: auditor(bank(images)), classes: planned.map { classIndex[$0.label] ?? 0 },
                                         values: planned.map { p in c.attribute.flatMap { p.attributes[$0] }.flatMap { values.firstIndex(of: $0) } ?? -1 })
            }
            let candidates = c.guidanceCandidates
            if candidates.count > 1 || c.minConfidence.count > 1 {
                guard let realImages = d.images(at: resolution) else {
                    throw PipelineError("fair-sample: dataset object has no images at \(resolution) px for the lever pilot")
                }
                let valRows = d.table.rows.indices.filter { d.table.rows[$0].split == .val && d.table.rows[$0].topClass != nil }
                let validation = LeverPilot.Scored(
                    outputs: auditor(ClassifyStage.bank(realImages, rows: valRows)),
                    classes: valRows.map { d.table.rows[$0].topClass! },
                    values: valRows.map { r in attributeIndex.map { d.table.rows[r].attributes[$0] } ?? -1 })
                let pilotPlan = pilot(plan, perCell: c.pilotPerCell, attribute: c.attribute)
                var pilots: [(guidance: Double, scored: LeverPilot.Scored)] = []
                for (k, weight) in candidates.enumerated() {
                    var images: [Tensor] = []
                    var done = 0
                    while done < pilotPlan.count {
                        if ctx.shouldStop() { throw StageInterrupted(stage: ctx.stage) }
                        let batch = Array(pilotPlan[done..<min(pilotPlan.count, done + c.batch)])
                        images += try draw(batch, guidance: weight, seed: c.seed ^ 0x5049_4C4F, firstIndex: done)
                        done += batch.count
                        ctx.progress(step: k * pilotPlan.count + done, total: candidates.count * pilotPlan.count + plan.count)
                    }
                    pilots.append((weight, scored(images, pilotPlan)))
                }
                let choice = LeverPilot.choose(pilots: pilots, thresholds: c.minConfidence, validation: validation)
                w = choice.chosen.guidance; t = choice.chosen.minConfidence
                levers = LeverPilot.Record(pilotPerCell: c.pilotPerCell, chosen: choice.chosen, candidates: choice.candidates,
                                           redrawn: 0, belowThresholdAfterRedraws: 0)
            }
            if levers == nil {
                levers = LeverPilot.Record(pilotPerCell: c.pilotPerCell, chosen: .init(guidance: w, minConfidence: t),
                                           candidates: [], redrawn: 0, belowThresholdAfterRedraws: 0)
            }
        }

        let writer = ShardWriter(store: ctx.store, directory: ctx.scratch.appendingPathComponent("shards"))
        var grid = GridCollector(classes: d.table.classes, attribute: c.attribute,
                                 values: c.attribute.flatMap { layout.block($0)?.values } ?? ["all"])
        if let realImages = d.images(at: up?.card.unet.resolution ?? baseRes) {
            let attributeIndex = c.attribute.flatMap { d.table.attributes.firstIndex(of: $0) }
            for r in d.table.rows.indices where d.table.rows[r].split == .train {
                guard let cls = d.table.rows[r].topClass else { continue }
                var value = "all"
                if let a = attributeIndex {
                    let v = d.table.rows[r].attributes[a]
                    guard v >= 0 else { continue }
                    value = d.table.attributeValues[a][v]
                }
                // Decode only what the grid keeps: a big training split has far more rows than cells × 3.
                guard grid.wantsReal(label: d.table.classes[cls], value: value) else { continue }
                grid.offerReal(realImages.image(r), label: d.table.classes[cls], value: value)
            }
        }
        var done = 0, redrawn = 0, belowAfterRetries = 0
        while done < plan.count {
            if ctx.shouldStop() { throw StageInterrupted(stage: ctx.stage) }
            let batch = Array(plan[done..<min(plan.count, done + c.batch)])
            var images = try draw(batch, guidance: w, seed: c.seed, firstIndex: done)
            if t > 0, let audit {
                // Redraw what the auditor does not recognise as its conditioned class. Attempt a uses noise
                // streams a·plan.count + done + j: disjoint from every first draw and from other batches.
                var attempt = 0
                while true {
                    let out = audit(bank(images))
                    let rejected = batch.indices.filter { k in
                        Double(out.scores[k * out.classes + (classIndex[batch[k].label] ?? 0)]) < t
                    }
                    if rejected.isEmpty { break }
                    if attempt == maxRedraws { belowAfterRetries += rejected.count; break }
                    attempt += 1
                    redrawn += rejected.count
                    let again = try draw(rejected.map { batch[$0] }, guidance: w, seed: c.seed,
                                         firstIndex: attempt * plan.count + done)
                    for (j, k) in rejected.enumerated() { images[k] = again[j] }
                }
            }
            for (k, p) in batch.enumerated() {
                let png = try PNGCodec.encode(images[k])
                try writer.append(SyntheticSample(index: done + k, png: png, label: p.label, attributes: p.attributes,
                                                  seed: c.seed, guidance: w, strategy: c.strategy,
                                                  target: p.target, unknown: p.unknown))
                grid.offer(images[k], label: p.label, value: c.attribute.flatMap { p.attributes[$0] } ?? "all")
            }
            done += batch.count
            ctx.progress(step: done, total: plan.count)
        }
        var outputs: [String: StageOutput] = [:]
        for (i, id) in try writer.finish().enumerated() { outputs[String(format: "shard-%05d", i)] = .object(id) }
        for (name, png) in try grid.pngs() { outputs["grid-" + name] = .bytes(png) }
        if var record = levers {
            record.redrawn = redrawn
            record.belowThresholdAfterRedraws = belowAfterRetries
            outputs[leversOutput] = .bytes(try record.encoded())
        }
        return outputs
    }

    /// The pilot plan: up to `perCell` planned examples of every (class, attribute value) cell of the full
    /// plan, in plan order (a cell with fewer planned examples repeats them; each repeat gets its own noise).
    static func pilot(_ plan: [Planned], perCell: Int, attribute: String?) -> [Planned] {
        var order: [String] = []
        var byCell: [String: [Planned]] = [:]
        for p in plan {
            let key = p.label + "\u{1}" + (attribute.flatMap { p.attributes[$0] } ?? "")
            if byCell[key] == nil { order.append(key) }
            byCell[key, default: []].append(p)
        }
        return order.flatMap { key in
            let members = byCell[key]!
            return (0..<perCell).map { members[$0 % members.count] }
        }
    }

    /// The plan: per_real × (labeled training rows) examples. Each takes its label (and its other
    /// attributes) from a training row drawn within its planned class, and the planned value of the
    /// fairness attribute. For multi-label data the "class" is the whole label vector of a random row.
    static func makePlan(_ table: DatasetTable, layout: ConditioningLayout, config c: ChainConfig.Sample) throws -> [Planned] {
        let train = table.rows.indices.filter { table.rows[$0].split == .train && table.rows[$0].isLabeled }
        // per_real is bounded at ingest; still never convert a value Int cannot hold (that traps).
        let wanted = (Double(train.count) * c.perReal).rounded()
        guard wanted.isFinite, wanted >= 0, wanted <= Double(Int32.max) else {
            throw PipelineError("fair-sample: per_real \(c.perReal) × \(train.count) rows is not a sample count this run can hold")
        }
        let count = Int(wanted)
        guard count > 0 else { return [] }
        let multi = table.labelKind == .multi
        let labels = train.map { multi ? 0 : table.rows[$0].topClass ?? 0 }
        let attributeBlock = c.attribute.flatMap { layout.block($0) }
        if c.attribute != nil && attributeBlock == nil {
            throw PipelineError("fair-sample: attribute '\(c.attribute!)' is not in pipeline.ddpm.cond")
        }
        let values = attributeBlock?.values.count ?? 1
        let pairs = Sampling.fairPlan(labels: labels, classCount: multi ? 1 : table.classes.count,
                                      attributeValues: values, count: count, seed: c.seed)
        var byLabel: [Int: [Int]] = [:]
        for (k, r) in train.enumerated() { byLabel[labels[k], default: []].append(r) }
        let attrIndex = c.attribute.flatMap { table.attributes.firstIndex(of: $0) }
        var rng = RNG(seed: c.seed ^ 0x504C_414E)
        var plan: [Planned] = []
        plan.reserveCapacity(pairs.count)
        for (y, a) in pairs {
            guard let candidates = byLabel[y], !candidates.isEmpty else { continue }
            let template = candidates[rng.int(below: candidates.count)]
            var cond = DiffusionStages.condVector(table.rows[template], table: table, layout: layout)
            var names: [String: String] = [:]
            for (i, attr) in table.attributes.enumerated() where table.rows[template].attributes[i] >= 0 {
                names[attr] = table.attributeValues[i][table.rows[template].attributes[i]]
            }
            var source: Int? = nil
            if let block = attributeBlock, let name = c.attribute {
                cond = layout.replacing(name, with: a, in: cond)
                names[name] = block.values[a]
                if c.strategy == "translate" {
                    // A real image of the same class from the most common value of the attribute (the majority).
                    let majority = attrIndex.map { i in
                        candidates.filter { table.rows[$0].attributes[i] >= 0 }
                            .reduce(into: [Int: Int]()) { $0[table.rows[$1].attributes[i], default: 0] += 1 }
                            .max { $0.value < $1.value }?.key
                    } ?? nil
                    let pool = attrIndex.flatMap { i in majority.map { m in candidates.filter { table.rows[$0].attributes[i] == m } } } ?? candidates
                    source = pool.isEmpty ? template : pool[rng.int(below: pool.count)]
                }
            } else if c.strategy == "translate" {
                source = template
            }
            let row = table.rows[template]
            let label = multi
                ? table.classes.indices.filter { row.labelMask[$0] == 1 && row.label[$0] > 0.5 }.map { table.classes[$0] }.joined(separator: "|")
                : table.classes[y]
            var planned = Planned(cond: cond, label: label, attributes: names, source: source)
            // The image is generated under the template's label vector, so that vector — not its arg-max —
            // is what the classifier should learn from it (a soft label stays soft), and a multi-label entry
            // the template leaves unknown or uncertain stays out of the loss, as it does for the real row.
            switch table.labelKind {
            case .single: break
            case .soft: planned.target = row.label
            case .multi:
                planned.target = zip(row.label, row.labelMask).map { $1 == 1 ? $0 : 0 }
                planned.unknown = row.labelMask.indices.filter { row.labelMask[$0] == 0 }
            }
            plan.append(planned)
        }
        return plan
    }
}

/// Collects the first few samples per (class, attribute value) — and, for comparison, the first few real
/// training images of the cell — and lays them out as one PNG per class.
struct GridCollector {
    let classes: [String]
    let attribute: String?
    let values: [String]
    private var cells: [String: [Tensor]] = [:]
    private var real: [String: [Tensor]] = [:]
    /// Pixels of background between the real and the synthetic columns.
    static let separator = 4

    init(classes: [String], attribute: String?, values: [String]) {
        self.classes = classes; self.attribute = attribute; self.values = values
    }

    mutating func offer(_ image: Tensor, label: String, value: String) {
        let key = label + "\u{1}" + value
        if cells[key, default: []].count < FairSampleStage.gridColumns { cells[key, default: []].append(image) }
    }

    /// Whether the cell still has room for a real image.
    func wantsReal(label: String, value: String) -> Bool {
        (real[label + "\u{1}" + value]?.count ?? 0) < FairSampleStage.gridRealColumns
    }

    /// A real training image of the cell (kept when its size matches the samples').
    mutating func offerReal(_ image: Tensor, label: String, value: String) {
        let key = label + "\u{1}" + value
        if real[key, default: []].count < FairSampleStage.gridRealColumns { real[key, default: []].append(image) }
    }

    /// One grid per class that has samples: `values.count` rows; in each, `gridRealColumns` real images
    /// (when any were offered), a `separator`-wide gap, then `gridColumns` samples; 1 px gaps between
    /// images. Named by `fileName(classIndex:className:)`.
    func pngs() throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (index, cls) in classes.enumerated() {
            let rows = values.map { cells[cls + "\u{1}" + $0] ?? [] }
            guard let first = rows.first(where: { !$0.isEmpty })?.first else { continue }
            let c = first.shape[0], s = first.shape[1], cols = FairSampleStage.gridColumns
            let realRows = values.map { (real[cls + "\u{1}" + $0] ?? []).filter { $0.shape == first.shape } }
            let realCols = realRows.contains { !$0.isEmpty } ? FairSampleStage.gridRealColumns : 0
            let offset = realCols > 0 ? realCols * (s + 1) + GridCollector.separator : 0
            let h = values.count * (s + 1) + 1, w = offset + cols * (s + 1) + 1
            var canvas = Tensor(shape: [c, h, w], data: [Float](repeating: 1, count: c * h * w))
            func paste(_ img: Tensor, row r: Int, x0: Int) {
                for ch in 0..<c { for y in 0..<s { for x in 0..<s {
                    canvas.data[(ch * h + r * (s + 1) + 1 + y) * w + x0 + x] = img.data[(ch * s + y) * s + x]
                } } }
            }
            for (r, images) in realRows.enumerated() where realCols > 0 {
                for (k, img) in images.enumerated() { paste(img, row: r, x0: k * (s + 1) + 1) }
            }
            for (r, images) in rows.enumerated() {
                for (k, img) in images.enumerated() { paste(img, row: r, x0: offset + k * (s + 1) + 1) }
            }
            out.append((GridCollector.fileName(classIndex: index, className: cls), try PNGCodec.encode(canvas)))
        }
        return out
    }

    /// The file name stem of a class's grid: `III-<slug>`, the class index (3+ digits) then a readable
    /// slug of the name. The index makes it unique: class names that differ only in characters unsafe
    /// in file names (`a b`, `a_b`, `a/b`) share a slug, and naming files by slug alone lost all but
    /// one of their grids. The report shows the real name (`classIndex(ofGrid:)` finds it).
    static func fileName(classIndex: Int, className: String) -> String {
        String(format: "%03d", classIndex) + "-" + String(fileSafe(className).prefix(40))
    }

    /// The class index at the start of a `fileName` stem (nil for anything else).
    static func classIndex(ofGrid stem: Substring) -> Int? {
        let digits = stem.prefix { $0.isASCII && $0.isNumber }
        guard digits.count >= 3, stem.dropFirst(digits.count).first == "-" else { return nil }
        return Int(digits)
    }

    /// A class name usable in a file name: letters, digits, `-`, `_`, `.`; anything else becomes `_`.
    static func fileSafe(_ name: String) -> String {
        let mapped = String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        return mapped.isEmpty || mapped.hasPrefix(".") ? "_" + mapped : mapped
    }
}
