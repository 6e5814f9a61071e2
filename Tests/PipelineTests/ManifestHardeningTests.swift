import Foundation
import NN
import Diffusion
import Testing
@testable import Daemon
@testable import Datasets
@testable import Pipeline

/// SplitMix64: a seeded generator so the fuzz cases are the same on every run.
private struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func chance(_ p: Double) -> Bool { unit() < p }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// The bounds a third of the time each way (where bugs live), else uniform.
    mutating func int(_ r: ClosedRange<Int>) -> Int {
        switch next() % 4 {
        case 0: return r.lowerBound
        case 1: return r.upperBound
        default: return r.lowerBound + Int(next() % UInt64(r.upperBound - r.lowerBound + 1))
        }
    }
    mutating func double(_ r: ClosedRange<Double>, openLow: Bool = false, openHigh: Bool = false) -> Double {
        switch next() % 4 {
        case 0: return openLow ? r.lowerBound.nextUp : r.lowerBound
        case 1: return openHigh ? r.upperBound.nextDown : r.upperBound
        default: return max(openLow ? r.lowerBound.nextUp : r.lowerBound, r.lowerBound + unit() * (r.upperBound - r.lowerBound))
        }
    }
}

@Suite struct ManifestHardeningTests {
    static let head = """
        name: derm
        archive: derm.tar.gz
        modality: dermatology
        table: t.csv
        image_column: path
        label: {kind: single, column: dx, classes: [a, b]}
        attributes: [tone]

        """

    /// A random manifest whose every numeric key, when present, lies in its documented range.
    private static func randomManifest(_ g: inout SplitMix) -> String {
        typealias L = ManifestLimits
        var p: [String] = []
        if g.chance(0.7) {
            let base = 4 * g.int(1...(L.resolution.upperBound / 4))
            p.append("  base_resolution: \(base)")
            if g.chance(0.7) { p.append("  final_resolution: \(min(base * g.int(1...4), L.resolution.upperBound))") }
        }
        func small(_ r: ClosedRange<Int>) -> Int { g.chance(0.6) ? g.int(r.lowerBound...min(r.upperBound, 16)) : g.int(r) }
        var ddpm: [String] = []
        if g.chance(0.5) { ddpm.append("steps: \(g.int(L.trainingSteps))") }
        if g.chance(0.5) { ddpm.append("batch: \(small(L.batch))") }
        if g.chance(0.5) { ddpm.append("lr: \(g.double(L.learningRate))") }
        if g.chance(0.5) { ddpm.append("cond_drop: \(g.double(0...1, openHigh: true))") }
        if g.chance(0.5) { ddpm.append("ema: \(g.double(0...1, openHigh: true))") }
        if g.chance(0.3) { ddpm.append("schedule: \(g.chance(0.5) ? "linear" : "cosine")") }
        if !ddpm.isEmpty { p.append("  ddpm: {\(ddpm.joined(separator: ", "))}") }
        var up: [String] = []
        if g.chance(0.5) { up.append("steps: \(g.int(L.trainingSteps))") }
        if g.chance(0.5) { up.append("batch: \(small(L.batch))") }
        if !up.isEmpty { p.append("  upsampler: {\(up.joined(separator: ", "))}") }
        var sample: [String] = []
        let ddim = g.chance(0.7)
        if g.chance(0.5) { sample.append("sampler: \(ddim ? "ddim" : "ddpm")") }
        if g.chance(0.6) { sample.append("sampling_steps: \(g.int(5...L.samplingSteps.upperBound))") }
        if g.chance(0.5) { sample.append("per_real: \(g.double(L.perReal, openLow: true))") }
        if g.chance(0.5) { sample.append("guidance: \(g.double(L.guidance))") }
        if g.chance(0.5) { sample.append("strength: \(g.double(0...1, openLow: true))") }
        if g.chance(0.3) { sample.append("strategy: \(g.chance(0.5) ? "translate" : "fair")") }
        if !sample.isEmpty { p.append("  sample: {\(sample.joined(separator: ", "))}") }
        if g.chance(0.4) {
            let alphas = Set((0..<g.int(1...L.maxAlphas)).map { _ in (g.double(0...1) * 100).rounded() / 100 })
            p.append("  mix: {alpha: [\(alphas.sorted().map { "\($0)" }.joined(separator: ", "))]}")
        }
        var cls: [String] = []
        if g.chance(0.5) { cls.append("epochs: \(g.int(L.epochs))") }
        if g.chance(0.5) { cls.append("batch: \(small(L.classifierBatch))") }
        if g.chance(0.5) { cls.append("seeds: \(g.int(L.seeds))") }
        if !cls.isEmpty { p.append("  classifier: {\(cls.joined(separator: ", "))}") }
        return head + (p.isEmpty ? "" : "pipeline:\n" + p.joined(separator: "\n") + "\n")
    }

    /// Everything the stages build from the resolved configuration before (or while) they run, built here
    /// for real: a precondition reachable from a validated manifest crashes this test process.
    private static func exercise(_ c: ChainConfig, table: DatasetTable) throws {
        // Generator and upsampler training: settings, schedule, LR schedule (DDPMTrainer's preconditions).
        for (steps, batch, lr) in [(c.ddpm.steps, c.ddpm.batch, c.ddpm.lr)] + (c.upsampler.map { [($0.steps, $0.batch, $0.lr)] } ?? []) {
            let s = DiffusionStages.settings(steps: steps, batch: batch, lr: lr, ema: c.ddpm.ema, condDrop: c.ddpm.condDrop,
                                             every: c.ddpm.checkpointEvery, seed: 1, prediction: c.ddpm.prediction,
                                             schedule: c.ddpm.schedule, timesteps: c.ddpm.timesteps)
            #expect(s.steps >= 1 && s.batch >= 1)
            _ = LRSchedule.warmupCosine(peak: s.learningRate, warmupSteps: min(s.warmupSteps, s.steps), totalSteps: s.steps,
                                        floor: s.learningRate)
            #expect(s.learningRate.isFinite && s.learningRate > 0)
        }
        // The UNets halve the image (mults.count − 1) times and must land on whole pixels.
        #expect(c.ddpm.resolution % (1 << (c.ddpm.mults.count - 1)) == 0)
        if let u = c.upsampler {
            #expect(u.to % (1 << (u.mults.count - 1)) == 0 && u.to >= u.from)
            #expect(u.batch * u.to * u.to <= ManifestLimits.maxBatchPixels)
        }
        #expect(c.ddpm.batch * c.ddpm.resolution * c.ddpm.resolution <= ManifestLimits.maxBatchPixels)
        // Sampling: the sampler (DDIM's step bound), img2img's start, the plan's sample count.
        let schedule = Diffusion.NoiseSchedule(kind: c.ddpm.schedule == "linear" ? .linear : .cosine, steps: c.ddpm.timesteps)
        let sampler = Sampler(schedule: schedule, settings: SamplerSettings(kind: c.sample.sampler == "ddpm" ? .ddpm : .ddim,
                                                                              steps: c.sample.samplingSteps, guidance: Float(c.sample.guidance)))
        let t0 = schedule.timestep(strength: c.sample.strength)
        #expect(!sampler.timesteps().isEmpty && sampler.timesteps(from: t0).first == t0)
        let layout = try DiffusionStages.layout(table, cond: c.ddpm.cond)
        let plan = try FairSampleStage.makePlan(table, layout: layout, config: c.sample)
        #expect(plan.count <= table.rows.count * Int(ManifestLimits.perReal.upperBound))
        // Classifier training: batch norm needs two values per channel; the LR warm-up fits in the run.
        let final = c.upsampler?.to ?? c.ddpm.resolution
        #expect(c.classify.batch >= 2 && c.classify.batch * final * final <= ManifestLimits.maxBatchPixels)
        let perEpoch = max(1, (table.rows.count + c.classify.batch - 1) / c.classify.batch)
        _ = LRSchedule.warmupCosine(peak: Float(c.classify.lr), warmupSteps: perEpoch, totalSteps: c.classify.epochs * perEpoch)
        let estimate = RunEstimate(config: c, trainRows: table.rows.count, rows: table.rows.count)
        #expect(estimate.totalSeconds.isFinite && estimate.totalSeconds >= 0)
    }

    @Test func randomInRangeManifestsResolveWithoutTrippingAPrecondition() throws {
        var g = SplitMix(state: 20261206)
        let rows = (0..<6).map { i in
            TableRow(path: "x\(i).png", label: i % 2 == 0 ? [1, 0] : [0, 1], labelMask: [1, 1], attributes: [i % 3 == 0 ? 0 : 1],
                     domain: -1, split: .train)
        }
        let table = DatasetTable(labelKind: .single, classes: ["a", "b"], attributes: ["tone"], attributeValues: [["dark", "light"]],
                                 domainValues: [], rows: rows)
        var accepted = 0
        for _ in 0..<400 {
            let text = Self.randomManifest(&g)
            let manifest: Manifest
            do { manifest = try Manifest.parse(text: text, file: "fuzz.yaml") } catch let e as DatasetError {
                // Only cross-key rules (batch × resolution², final vs base) may refuse an in-range draw.
                #expect(e.location.hasSuffix("batch") || e.location == "pipeline.final_resolution", "\(e)\n\(text)")
                continue
            }
            accepted += 1
            for profile in Profile.allCases {
                try Self.exercise(ChainConfig.resolve(manifest: manifest, profile: profile, threads: 2), table: table)
            }
            // What `fairgen run --profile paper` resolves: the preset filled in and validated again; only a batch
            // key of the manifest that cannot hold at the preset's 64 → 256 may refuse it.
            do {
                let preset = try PaperPreset.apply(to: manifest, file: "fuzz.yaml")
                try Self.exercise(ChainConfig.resolve(manifest: preset, profile: .paper, threads: 2), table: table)
            } catch let e as DatasetError {
                #expect(e.location.hasSuffix("batch") && e.found.contains("paper profile"), "\(e)\n\(text)")
            }
        }
        #expect(accepted >= 200, "only \(accepted) of 400 random manifests validated")
    }

    @Test func everyProfileSchedulesAtLeastTheStepsValidationAllows() throws {
        let m = try Manifest.parse(text: Self.head, file: "x.yaml")
        for profile in Profile.allCases {
            let c = ChainConfig.resolve(manifest: m, profile: profile, threads: 2)
            #expect(c.ddpm.timesteps >= ManifestLimits.samplingSteps.upperBound)
        }
    }

    @Test func flowStyleQuotedKeysAndJSONAreReadIdenticallyByTheDaemonAndIngest() throws {
        let rest = #""modality": "dermatology", "table": "t.csv", "image_column": "path", "label": {"kind": "single", "column": "dx", "classes": [a, b]}"#
        let variants: [(String, String)] = [
            ("flow.yaml", #"{"name": "derm", "archive": "derm-v2.tar.gz", "# + rest + "}"),
            ("quoted.yaml", "\"name\": 'derm'\n'archive': \"derm-v2.tar.gz\"\nmodality: dermatology\ntable: t.csv\nimage_column: path\n"
                + "label: {kind: single, column: dx, classes: [a, b]}\n"),
            ("folded.yml", "---\nname:\n  derm\narchive: >-\n  derm-v2.tar.gz\nmodality: dermatology\ntable: t.csv\nimage_column: path\n"
                + "label:\n  kind: single\n  column: dx\n  classes:\n  - a\n  - b\n"),
            ("derm.json", #"{"archive": "derm-v2.tar.gz", "name": "derm", "# + rest + "}"),
        ]
        let dir = NSTemporaryDirectory() + "fairgen-oneparser-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (file, text) in variants {
            let path = dir + "/" + file
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let m = try Manifest.load(path: path, requireArchive: false)
            let keys = try ManifestKeys.read(Data(text.utf8), fileName: file)
            #expect(keys == ManifestKeys(name: m.name, archive: m.archive), "\(file)")
            #expect(keys == ManifestKeys(name: "derm", archive: "derm-v2.tar.gz"), "\(file)")
        }
        // A known dataset with a new archive in flow style is an ingest of that archive, not a reprocess.
        let inbox = dir + "/inbox"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try variants[0].1.write(toFile: inbox + "/derm.yaml", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: inbox + "/derm-v2.tar.gz", contents: Data([1, 2, 3]))
        var detector = DropDetector(settle: 0)
        let decisions = detector.update(snapshot: InboxSnapshot.scan(directory: inbox), now: Date().timeIntervalSince1970 + 60,
                                        datasetExists: { $0 == "derm" })
        guard case .ready(let drop)? = decisions.first else { Issue.record("expected a drop, got \(decisions)"); return }
        #expect(drop.kind == .ingest && drop.dataset == "derm" && drop.archive == "derm-v2.tar.gz")
        // An invalid manifest is rejected at the inbox with the parser's own message.
        try "name: derm\narchive: derm-v2.tar.gz\n".write(toFile: inbox + "/derm.yaml", atomically: true, encoding: .utf8)
        guard case .failure(let error)? = InboxSnapshot.scan(directory: inbox).manifests["derm.yaml"] else {
            Issue.record("an incomplete manifest was accepted at the inbox"); return
        }
        #expect(error.stage == "inbox" && error.message == "derm.yaml: modality: found nothing (key missing), expected a value for required key \"modality\"")
    }

    @Test func projectedRunTimeOfTheDemoIsNearItsMeasuredStages() throws {
        let m = try Manifest.parse(text: DemoDrop.manifest, file: "derm-demo.yaml")
        let c = ChainConfig.resolve(manifest: m, profile: .default, threads: 2)
        let e = RunEstimate(config: c, trainRows: 800, rows: 1600)
        let seconds = Dictionary(uniqueKeysWithValues: e.stages.map { ($0.name, $0.seconds) })
        // docs/performance.md (2-core machine, im2col convolutions): DDPM 211 s, upsampler 111 s, fair sampling 213 s;
        // with Winograd (2026-12-06) DDPM 135 s, upsampler 79 s, fair sampling 135 s, 12 classifiers ≈ 235 s — the
        // estimate errs on the long side.
        #expect((150...300).contains(seconds["train-ddpm"] ?? 0), "\(e.summary)")
        #expect((60...250).contains(seconds["train-upsampler"] ?? 0), "\(e.summary)")
        #expect((120...350).contains(seconds["fair-sample"] ?? 0), "\(e.summary)")
        #expect(e.classifiers == 12)   // baseline, synthetic α 0.5, synthetic α 0.5 + oversample, oversample × 3 seeds
        #expect(e.summary.hasPrefix("projected run time (estimate, if nothing is cached): ~"))
        // Twice the threads, half the time; ten times the steps, ten times the generator's time.
        let fast = RunEstimate(config: ChainConfig.resolve(manifest: m, profile: .default, threads: 4), trainRows: 800, rows: 1600)
        #expect(abs(fast.totalSeconds * 2 - e.totalSeconds) < 1e-6 * e.totalSeconds)
        var long = c
        long.ddpm.steps *= 10
        let tenfold = RunEstimate(config: long, trainRows: 800, rows: 1600)
        #expect(abs((tenfold.stages[0].seconds) - 10 * (seconds["train-ddpm"] ?? 0)) < 1e-6 * tenfold.stages[0].seconds)
    }
}
