import Foundation
import Testing
@testable import Datasets

/// The DESIGN §3 example with every key, including the whole `pipeline:` block.
let fullManifestYAML = """
name: derm-demo
archive: derm-demo.tar.gz
modality: dermatology
table: metadata.csv
image_column: path
label:
  kind: single
  column: diagnosis
  classes: [eczema, psoriasis, melanoma, bcc, scc, other]
attributes: [sex, age_group, skin_tone]
domain_column: hospital
split_column: split
high_risk: [melanoma, bcc, scc]
pipeline:
  base_resolution: 32
  final_resolution: 64
  ddpm: {steps: 20000, batch: 32, lr: 2.0e-4, schedule: cosine, cond: [label, skin_tone], cond_drop: 0.1, ema: 0.9999, balance: skin_tone}
  upsampler: {steps: 20000, batch: 16, aug: paper}
  sample: {strategy: fair, per_real: 1.0, guidance: 2.0, sampler: ddim, sampling_steps: 50, strength: 0.6}
  mix: {alpha: [0.0, 0.25, 0.5, 0.75, 1.0]}
  classifier: {arch: resnet18, epochs: 30, batch: 64, seeds: 5, baselines: [none, heuristic, oversample, focal]}
  evaluate: {mmd: true}
"""

/// Parses `text` and returns the error it must raise.
func manifestError(_ text: String, file: String = "inbox/x.yaml") -> DatasetError? {
    do { _ = try Manifest.parse(text: text, file: file); return nil } catch let e as DatasetError { return e } catch { return nil }
}

@Suite struct ManifestTests {
    @Test func parsesEveryKeyOfTheDesignExample() throws {
        let m = try Manifest.parse(text: fullManifestYAML, file: "inbox/derm-demo.yaml")
        #expect(m.name == "derm-demo" && m.archive == "derm-demo.tar.gz" && m.modality == .dermatology)
        #expect(m.table == "metadata.csv" && m.imageColumn == "path")
        #expect(m.label == LabelSpec(kind: .single, column: "diagnosis", classes: ["eczema", "psoriasis", "melanoma", "bcc", "scc", "other"]))
        #expect(m.attributes == ["sex", "age_group", "skin_tone"] && m.domainColumn == "hospital" && m.splitColumn == "split")
        #expect(m.highRisk == ["melanoma", "bcc", "scc"])
        let p = m.pipeline
        #expect(p.baseResolution == 32 && p.finalResolution == 64)
        #expect(p.ddpm?.steps == 20000 && p.ddpm?.batch == 32 && p.ddpm?.lr == 2.0e-4 && p.ddpm?.schedule == .cosine)
        #expect(p.ddpm?.cond == ["label", "skin_tone"] && p.ddpm?.condDrop == 0.1 && p.ddpm?.ema == 0.9999)
        #expect(p.ddpm?.balance == "skin_tone")
        #expect(p.upsampler?.steps == 20000 && p.upsampler?.batch == 16 && p.upsampler?.aug == .paper)
        #expect(p.sample?.strategy == .fair && p.sample?.perReal == 1.0 && p.sample?.guidance == 2.0)
        #expect(p.sample?.sampler == .ddim && p.sample?.samplingSteps == 50 && p.sample?.strength == 0.6)
        #expect(p.mix?.alpha == [0.0, 0.25, 0.5, 0.75, 1.0])
        #expect(p.classifier?.arch == .resnet18 && p.classifier?.epochs == 30 && p.classifier?.batch == 64 && p.classifier?.seeds == 5)
        #expect(p.classifier?.baselines == [.none, .heuristic, .oversample, .focal])
        #expect(p.evaluate?.mmd == true)
        #expect(m.resolutions == [32, 64])
    }

    @Test func jsonManifestEqualsYAMLAndCanonicalJSONIsStable() throws {
        let yaml = try Manifest.parse(text: fullManifestYAML, file: "x.yaml")
        let canonical = yaml.canonicalJSON()
        // The canonical JSON is itself a valid manifest and parses back to the same value.
        let json = try Manifest.parse(text: String(decoding: canonical, as: UTF8.self), file: "x.json")
        #expect(json == yaml)
        #expect(json.canonicalJSON() == canonical)
        #expect(String(decoding: canonical, as: UTF8.self).hasPrefix("{\"archive\":\"derm-demo.tar.gz\""))
    }

    @Test func defaultsWhenPipelineAbsent() throws {
        let text = fullManifestYAML.components(separatedBy: "pipeline:")[0]
        let m = try Manifest.parse(text: text, file: "x.yaml")
        #expect(m.pipeline == PipelineConfig())
        #expect(m.baseResolution == 32 && m.finalResolution == 64)
    }

    @Test func labelKindMessageNamesFileKeyFoundAndExpected() {
        let e = manifestError(fullManifestYAML.replacingOccurrences(of: "kind: single", with: "kind: multiclass"))
        #expect(e?.code == .invalidValue)
        #expect(e?.description == "inbox/x.yaml: label.kind: found \"multiclass\", expected one of single, multi, soft")
    }

    @Test(arguments: [
        ("name: derm-demo", "name: derm-demo\nnmae: typo", "nmae"),
        ("  column: diagnosis", "  column: diagnosis\n  colour: red", "label.colour"),
        ("lr: 2.0e-4", "lr: 2.0e-4, lrr: 1", "pipeline.ddpm.lrr"),
        ("evaluate: {mmd: true}", "evaluate: {mmd: true, fid: true}", "pipeline.evaluate.fid"),
        ("  base_resolution: 32", "  base_resolution: 32\n  resolution: 9", "pipeline.resolution"),
    ])
    func unknownKeysAreErrors(original: String, replacement: String, path: String) {
        let e = manifestError(fullManifestYAML.replacingOccurrences(of: original, with: replacement))
        #expect(e?.code == .unknownKey)
        #expect(e?.location == path)
        #expect(e?.description.hasPrefix("inbox/x.yaml: \(path): found unknown key") == true)
    }

    @Test func nonYAMLManifestsAreRejected() throws {
        // Not YAML at all.
        let e1 = manifestError("name: [unclosed\n  : : {")
        #expect(e1?.code == .notYAML && e1?.description.contains("inbox/x.yaml") == true)
        #expect(e1?.description.contains("not valid YAML") == true)
        // YAML, but a scalar rather than a mapping.
        let e2 = manifestError("just some words")
        #expect(e2?.code == .notYAML && e2?.description.contains("expected a YAML or JSON mapping") == true)
        // A file that is not text, and a file with a non-manifest extension.
        let dir = DropBuilder.tempDir()
        try Data([0x89, 0x50, 0x4E, 0x47, 0xFF, 0xFE, 0x00, 0x01]).write(to: URL(fileURLWithPath: dir + "/bin.yaml"))
        #expect(throws: DatasetError.self) { try Manifest.load(path: dir + "/bin.yaml") }
        do { _ = try Manifest.load(path: dir + "/bin.yaml") } catch let e as DatasetError {
            #expect(e.code == .notYAML && e.description.contains("bin.yaml") && e.description.contains("not UTF-8"))
        }
        try "name: x".write(toFile: dir + "/m.txt", atomically: true, encoding: .utf8)
        do { _ = try Manifest.load(path: dir + "/m.txt"); Issue.record("accepted a .txt manifest") } catch let e as DatasetError {
            #expect(e.code == .notYAML && e.description.contains("m.txt") && e.description.contains(".txt file"))
        }
    }

    @Test(arguments: ["../evil", "a/b", "Upper", "-lead", "x y", "", String(repeating: "a", count: 65)])
    func datasetNamesWithPathCharactersAreRejected(name: String) {
        let e = manifestError(fullManifestYAML.replacingOccurrences(of: "name: derm-demo", with: "name: \"\(name)\""))
        if name.isEmpty {
            #expect(e?.code == .invalidValue && e?.location == "name")
        } else {
            #expect(e?.code == .badName)
            #expect(e?.description.hasPrefix("inbox/x.yaml: name: found \"\(name.prefix(120))") == true)
            #expect(e?.description.contains("[a-z0-9][a-z0-9-]{0,63}") == true)
        }
    }

    @Test(arguments: ["../derm.tar.gz", "/tmp/derm.tar.gz", "sub/derm.tar.gz", "..", "a\\\\b.tar"])
    func archivePathsOutsideTheInboxAreRejected(archive: String) {
        let e = manifestError(fullManifestYAML.replacingOccurrences(of: "archive: derm-demo.tar.gz", with: "archive: \"\(archive)\""))
        #expect(e?.code == .archiveOutsideInbox)
        #expect(e?.description.hasPrefix("inbox/x.yaml: archive: found") == true)
        #expect(e?.description.contains("beside the manifest") == true)
    }

    @Test func archiveMustExistBesideTheManifestAndNotBeASymlink() throws {
        let dir = DropBuilder.tempDir()
        let path = dir + "/derm-demo.yaml"
        try fullManifestYAML.write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try Manifest.load(path: path); Issue.record("missing archive accepted") } catch let e as DatasetError {
            #expect(e.code == .archiveMissing && e.description.contains("derm-demo.yaml: archive:"))
        }
        #expect(try Manifest.load(path: path, requireArchive: false).name == "derm-demo")
        // A symlink named like the archive, pointing outside the inbox.
        let outside = DropBuilder.tempDir() + "/real.tar.gz"
        FileManager.default.createFile(atPath: outside, contents: Data([1, 2, 3]))
        try FileManager.default.createSymbolicLink(atPath: dir + "/derm-demo.tar.gz", withDestinationPath: outside)
        do { _ = try Manifest.load(path: path); Issue.record("symlinked archive accepted") } catch let e as DatasetError {
            #expect(e.code == .archiveOutsideInbox && e.description.contains("not a regular file"))
        }
    }

    @Test func typedValuesAndCrossKeyRules() {
        func code(_ a: String, _ b: String) -> (DatasetError.Code?, String?) {
            let e = manifestError(fullManifestYAML.replacingOccurrences(of: a, with: b))
            return (e?.code, e?.location)
        }
        #expect(code("steps: 20000, batch: 32", "steps: many, batch: 32") == (.invalidValue, "pipeline.ddpm.steps"))
        #expect(code("cond_drop: 0.1", "cond_drop: 1.5") == (.invalidValue, "pipeline.ddpm.cond_drop"))
        #expect(code("schedule: cosine", "schedule: sigmoid") == (.invalidValue, "pipeline.ddpm.schedule"))
        #expect(code("cond: [label, skin_tone]", "cond: [label, shoe_size]") == (.invalidValue, "pipeline.ddpm.cond[1]"))
        #expect(code("alpha: [0.0, 0.25", "alpha: [1.5, 0.25") == (.invalidValue, "pipeline.mix.alpha[0]"))
        #expect(code("baselines: [none,", "baselines: [mixup,") == (.invalidValue, "pipeline.classifier.baselines[0]"))
        #expect(code("balance: skin_tone", "balance: shoe_size") == (.invalidValue, "pipeline.ddpm.balance"))
        #expect(code("balance: skin_tone", "balance: none").0 == nil)
        #expect(code("strength: 0.6", "strength: 0") == (.invalidValue, "pipeline.sample.strength"))
        #expect(code("strength: 0.6", "strength: 1.2") == (.invalidValue, "pipeline.sample.strength"))
        #expect(code("mmd: true", "mmd: maybe") == (.invalidValue, "pipeline.evaluate.mmd"))
        #expect(code("modality: dermatology", "modality: cardiology") == (.invalidValue, "modality"))
        #expect(code("final_resolution: 64", "final_resolution: 16") == (.invalidValue, "pipeline.final_resolution"))
        #expect(code("high_risk: [melanoma, bcc, scc]", "high_risk: [melanoma, wart]") == (.labelOutsideClasses, "high_risk[1]"))
        #expect(code("table: metadata.csv", "table: ../metadata.csv") == (.invalidValue, "table"))
        #expect(code("image_column: path\n", "") == (.missingKey, "image_column"))
        #expect(code("  column: diagnosis", "  columns: [a, b]") == (.unknownKey, "label.columns"))
        #expect(code("attributes: [sex, age_group, skin_tone]", "attributes: [sex, sex]") == (.invalidValue, "attributes[1]"))
        #expect(code("name: derm-demo", "name: derm-demo\nname: other") == (.notYAML, ""))  // duplicate keys
    }

    @Test func labelKindsMultiAndSoft() throws {
        let multi = try Manifest.parse(text: fullManifestYAML
            .replacingOccurrences(of: "kind: single\n  column: diagnosis\n  classes: [eczema, psoriasis, melanoma, bcc, scc, other]",
                                  with: "kind: multi\n  columns: [atelectasis, cardiomegaly]")
            .replacingOccurrences(of: "high_risk: [melanoma, bcc, scc]", with: "high_risk: [cardiomegaly]"), file: "x.yaml")
        #expect(multi.label.classes == ["atelectasis", "cardiomegaly"])
        let raters = try Manifest.parse(text: fullManifestYAML.replacingOccurrences(
            of: "kind: single\n  column: diagnosis", with: "kind: soft\n  rater_columns: [r1, r2, r3]"), file: "x.yaml")
        #expect(raters.label.raterColumns == ["r1", "r2", "r3"] && raters.label.classes.count == 6)
        let both = manifestError(fullManifestYAML.replacingOccurrences(
            of: "kind: single\n  column: diagnosis", with: "kind: soft\n  rater_columns: [r1]\n  columns: [a, b, c, d, e, f]"))
        #expect(both?.location == "label" && both?.code == .invalidValue)
    }
}
