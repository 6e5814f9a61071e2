import Foundation
import Testing
@testable import Classifier
@testable import Datasets
@testable import Pipeline
@testable import Store
import Tensors

/// Which baselines a run trains and what they resample or augment: the oversampling grouping rule
/// (attribute, else domain), the stacked synthetic variants, and the augmentation setting per modality.
@Suite struct BaselineVariantTests {
    static func manifest(modality: String = "dermatology", attributes: String = "attributes: [sex, tone]\n",
                         domain: String = "", pipeline: String = "") throws -> Manifest {
        let text = """
            name: x
            archive: x.tar.gz
            modality: \(modality)
            table: t.csv
            image_column: path
            label: {kind: single, column: dx, classes: [a, b]}

            """ + attributes + domain + (pipeline.isEmpty ? "" : "pipeline:\n" + pipeline)
        return try Manifest.parse(text: text, file: "x.yaml")
    }

    @Test func oversamplingGroupsByTheFairAttributeElseTheFirstAttributeElseTheDomain() throws {
        // The fairness attribute (first attribute in ddpm.cond) when it is a sensitive attribute.
        let tone = try Self.manifest(pipeline: "  ddpm: {cond: [label, tone]}\n")
        #expect(ChainConfig.resolve(manifest: tone, profile: .quick, threads: 1).classify.oversampleBy == "tone")
        // Conditioning on the domain: the first sensitive attribute instead (not one group for every row).
        let byDomain = try Self.manifest(domain: "domain_column: site\n", pipeline: "  ddpm: {cond: [label, domain]}\n")
        let c = ChainConfig.resolve(manifest: byDomain, profile: .quick, threads: 1)
        #expect(c.sample.attribute == "domain" && c.classify.oversampleBy == "sex")
        // Histopathology: no sensitive attribute, the hospital is what the paper evens out.
        let histo = try Self.manifest(modality: "histopathology", attributes: "", domain: "domain_column: hospital\n")
        let h = ChainConfig.resolve(manifest: histo, profile: .quick, threads: 1)
        #expect(h.classify.oversampleBy == "domain")
        #expect(h.variants.contains(.oversample))
        // Nothing to group by: the profile's oversampling variants are left out, not trained as the baseline.
        let none = try Self.manifest(attributes: "")
        let n = ChainConfig.resolve(manifest: none, profile: .quick, threads: 1)
        #expect(n.classify.oversampleBy == nil)
        #expect(!n.variants.contains { $0.usesOversample })
        #expect(n.variants.contains(.syntheticHeuristic(alpha: 0.5)))
    }

    /// The groups the trainer sees under `oversample` when the grouping is the domain: every hospital
    /// equally often, although the training rows are 30 / 6 / 4.
    @Test func oversamplingByTheDomainEvensOutTheHospitals() throws {
        var rows: [TableRow] = []
        for (domain, n) in [(0, 30), (1, 6), (2, 4)] {
            for _ in 0..<n {
                rows.append(TableRow(path: "x\(rows.count).png", label: [1, 0], labelMask: [1, 1], attributes: [],
                                     domain: domain, split: .train))
            }
        }
        let table = DatasetTable(labelKind: .single, classes: ["a", "b"], attributes: [], attributeValues: [],
                                 domainValues: ["h1", "h2", "h3"], rows: rows)
        let groups = ClassifyStage.groups(table, rows: Array(rows.indices), by: "domain")
        #expect(groups == rows.map(\.domain))
        #expect(ClassifyStage.groups(table, rows: Array(rows.indices), by: nil) == [Int](repeating: 0, count: 40))

        var bank = ImageBank(channels: 1, height: 1, width: 1)
        for _ in rows { bank.append(Tensor(shape: [1, 1, 1], data: [0.5])) }
        let real = LabeledImages(images: bank, targets: ClassifyStage.targets(table, rows: Array(rows.indices)), groups: groups)
        var settings = ClassifierSettings()
        settings.batch = 8; settings.oversample = true
        let steps = 30
        var plan = ClassifierTrainer.EpochPlan(config: settings, real: real,
                                               source: ClassifierTrainer.mixedSource(settings, real: real, synthetic: nil),
                                               epoch: 0, stepsPerEpoch: steps)
        var counts = [0, 0, 0]
        for s in 0..<steps {
            for case .real(let i) in plan.next(step: s) { counts[groups[i]] += 1 }
        }
        #expect(counts == [80, 80, 80], "hospital frequencies \(counts)")
    }

    @Test func stackedVariantsAreOptInPerAlpha() throws {
        let m = try Self.manifest(pipeline: "  mix: {alpha: [0.25, 0.5]}\n  classifier: {baselines: [synthetic+heuristic, synthetic+oversample, focal]}\n")
        let c = ChainConfig.resolve(manifest: m, profile: .default, threads: 1)
        #expect(c.variants.map(\.name) == [
            "baseline", "synthetic_a0.50", "synthetic_a0.25",
            "synthetic_a0.50+heuristic", "synthetic_a0.25+heuristic",
            "synthetic_a0.50+oversample", "synthetic_a0.25+oversample", "focal",
        ])
        // Every variant has a valid, distinct stage name ('+' is not allowed in one).
        let stages = c.variants.map { ClassifyStage.stageName($0, seed: 4) }
        for name in stages { #expect(throws: Never.self) { try Store.validateStageName(name) } }
        #expect(Set(stages).count == stages.count)
        #expect(stages.contains("classify-synthetic_a0.25-oversample-seed4"))
        let stacked = Variant.syntheticOversample(alpha: 0.25)
        #expect(stacked.usesSynthetic && stacked.usesOversample && !stacked.usesHeuristic && stacked.syntheticAlpha == 0.25)
        #expect(Variant.syntheticHeuristic(alpha: 0.5).usesHeuristic && !Variant.heuristic.usesSynthetic)
        // The demo (default profile) trains synthetic+oversample beside the plain mix (issue 11), but not
        // synthetic+heuristic unless the manifest asks.
        let plain = ChainConfig.resolve(manifest: try Self.manifest(), profile: .default, threads: 1)
        #expect(plain.variants.map(\.name).filter { $0.contains("+") } == ["synthetic_a0.50+oversample"])
        // The CI profile does, so every quick run trains them end to end.
        let quick = ChainConfig.resolve(manifest: try Self.manifest(), profile: .quick, threads: 1)
        #expect(quick.variants.map(\.name).contains("synthetic_a0.50+heuristic")
                && quick.variants.map(\.name).contains("synthetic_a0.50+oversample"))
    }

    @Test func augmentationSettingResolvesPerModality() throws {
        func policies(_ modality: String, _ pipeline: String = "") throws -> [String] {
            ChainConfig.resolve(manifest: try Self.manifest(modality: modality, pipeline: pipeline), profile: .paper, threads: 1)
                .classify.augment
        }
        #expect(try policies("histopathology") == ["histopathology"])
        #expect(try policies("radiology") == ["radiology", "randaugment"])
        #expect(try policies("dermatology") == ["randaugment"])
        #expect(try policies("generic") == ["randaugment"])
        #expect(try policies("radiology", "  classifier: {augment: randaugment}\n") == ["randaugment"])
        #expect(try policies("dermatology", "  classifier: {augment: imagenet}\n") == ["dermatology"])
        #expect(try policies("generic", "  classifier: {augment: randaugment+imagenet}\n") == ["imagenet", "randaugment"])
    }

    /// Every architecture the manifest accepts is built: the classify stage maps each to a layout, and an
    /// unknown one is refused by manifest validation, before any stage runs.
    @Test func everyAcceptedArchitectureHasALayout() throws {
        for arch in ClassifierArch.allCases {
            let m = try Self.manifest(pipeline: "  classifier: {arch: \(arch.rawValue)}\n")
            let c = ChainConfig.resolve(manifest: m, profile: .quick, threads: 1)
            #expect(c.classify.arch == arch.rawValue)
            #expect(ChainConfig.resnetLayout(arch: c.classify.arch) != nil, "\(arch)")
        }
        #expect(ChainConfig.resnetLayout(arch: "resnet18")! == ([2, 2, 2, 2], false))
        #expect(ChainConfig.resnetLayout(arch: "resnet34")! == ([3, 4, 6, 3], false))
        #expect(ChainConfig.resnetLayout(arch: "resnet50")! == ([3, 4, 6, 3], true))
        #expect(throws: DatasetError.self) { try Self.manifest(pipeline: "  classifier: {arch: resnet152}\n") }
        // The projected run time counts the deeper networks' convolutions (ResNet-34: about twice ResNet-18's).
        func classifySeconds(_ arch: String) throws -> Double {
            let c = ChainConfig.resolve(manifest: try Self.manifest(pipeline: "  classifier: {arch: \(arch)}\n"),
                                        profile: .paper, threads: 1)
            return RunEstimate(config: c, trainRows: 100, rows: 200).stages.first { $0.name == "classify" }!.seconds
        }
        let r18 = try classifySeconds("resnet18"), r34 = try classifySeconds("resnet34"), r50 = try classifySeconds("resnet50")
        #expect(r34 / r18 > 1.7 && r34 / r18 < 2.3, "\(r18) \(r34)")
        #expect(r50 > r34, "\(r34) \(r50)")
    }
}
