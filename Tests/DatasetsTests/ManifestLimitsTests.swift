import Dispatch
import Foundation
import Testing
@testable import Datasets

/// A valid manifest without a `pipeline:` block; tests append one.
private let basicManifest = """
name: derm
archive: derm.tar.gz
modality: dermatology
table: t.csv
image_column: path
label: {kind: single, column: dx, classes: [a, b]}
attributes: [tone]

"""

/// Parses `text` on a worker thread and returns its error and the seconds it took, or nil after
/// `timeout` seconds (the worker is left behind: an input that hangs the parser must fail, not hang, the test).
private func timedManifestError(_ text: String, timeout: Double = 10) -> (error: DatasetError?, seconds: Double)? {
    final class Box: @unchecked Sendable { var error: DatasetError?; var seconds = 0.0 }
    let box = Box(), done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        let start = DispatchTime.now()
        box.error = manifestError(text)
        box.seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        done.signal()
    }
    guard done.wait(timeout: .now() + timeout) == .success else { return nil }
    return (box.error, box.seconds)
}

/// `pipeline.a.b: v` → the YAML lines that set it (`alpha[0]` sets a one-entry list).
private func pipelineSetting(_ path: String, _ value: String) -> String {
    let parts = path.split(separator: ".").map(String.init)
    precondition(parts.first == "pipeline")
    if parts.count == 2 { return "pipeline:\n  \(parts[1]): \(value)\n" }
    let key = parts[2].hasSuffix("[0]") ? String(parts[2].dropLast(3)) : parts[2]
    let v = parts[2].hasSuffix("[0]") ? "[\(value)]" : value
    return "pipeline:\n  \(parts[1]):\n    \(key): \(v)\n"
}

@Suite struct ManifestLimitsTests {
    /// Nine levels of nine-fold aliases used as a mapping key: 9⁹ leaves. Yams hashes a key node in full to
    /// detect duplicate keys, so composing this ran for hours before anchors were refused.
    static let aliasBomb: String = {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        for i in 1...8 {
            let refs = [String](repeating: "*a\(i - 1)", count: 9).joined(separator: ", ")
            lines.append("a\(i): &a\(i) [\(refs)]")
        }
        lines.append("? *a8\n: 1")
        return lines.joined(separator: "\n") + "\n"
    }()

    @Test func aliasBombIsRejectedInUnderASecond() throws {
        #expect(Self.aliasBomb.utf8.count < 800)
        let result = try #require(timedManifestError(Self.aliasBomb), "parsing the alias bomb did not finish in 10 s")
        #expect(result.seconds < 1)
        #expect(result.error?.code == .notYAML)
        #expect(result.error?.description == "inbox/x.yaml: line 1: found a YAML anchor \"&a0\", expected a manifest without anchors or aliases (write each value out)")
    }

    @Test func anchorsAliasesAndTagsAreRefusedNamingTheLine() {
        let anchored = basicManifest.replacingOccurrences(of: "modality: dermatology", with: "modality: &m dermatology")
        #expect(manifestError(anchored)?.description
                == "inbox/x.yaml: line 3: found a YAML anchor \"&m\", expected a manifest without anchors or aliases (write each value out)")
        // An alias alone (its anchor elsewhere or nowhere) is refused at its own line.
        let aliased = basicManifest + "domain_column: *m\n"
        #expect(manifestError(aliased)?.location == "line 8")
        #expect(manifestError(aliased)?.found == "a YAML alias \"*m\"")
        // Flow style and JSON too.
        let json = #"{"name": &n "derm", "archive": "derm.tar.gz"}"#
        #expect(manifestError(json)?.location == "line 1")
        let tagged = basicManifest + "pipeline:\n  ddpm: {steps: !!str 100}\n"
        #expect(manifestError(tagged)?.location == "line 9")
        #expect(manifestError(tagged)?.found == "a YAML tag (\"!…\")")
        // '&', '*' and '!' inside scalars are text, not anchors.
        let plain = basicManifest.replacingOccurrences(of: "column: dx", with: "column: \"dx&*!\"")
        #expect(manifestError(plain) == nil)
    }

    @Test func nestingDepthAndSizeAreCapped() throws {
        let deep = basicManifest + "high_risk: " + String(repeating: "[", count: 9) + "a" + String(repeating: "]", count: 9) + "\n"
        let e = manifestError(deep)
        #expect(e?.code == .notYAML && e?.location == "line 8")
        #expect(e?.found == "mappings or lists nested more than 8 deep")
        // 60 KiB of '[' fails as fast, without recursing.
        let result = try #require(timedManifestError(basicManifest + "x: " + String(repeating: "[", count: 60_000)))
        #expect(result.seconds < 1 && result.error?.found == "mappings or lists nested more than 8 deep")
        // The size cap: 64 KiB.
        let big = basicManifest + "# " + String(repeating: "x", count: Manifest.maxManifestBytes) + "\n"
        #expect(manifestError(big)?.expected == "a manifest of at most 64 KiB")
        let dir = DropBuilder.tempDir()
        try big.write(toFile: dir + "/big.yaml", atomically: true, encoding: .utf8)
        do { _ = try Manifest.load(path: dir + "/big.yaml"); Issue.record("a 64 KiB+ manifest was accepted") } catch let e as DatasetError {
            #expect(e.description == "\(dir)/big.yaml: found more than 64 KiB, expected a manifest of at most 64 KiB")
        }
    }

    /// Every numeric key, each with values out of its range: too small, too big, 1e300, NaN, ±∞, an
    /// integer past Int's range and a fraction where an integer is due.
    static let numericKeys: [(path: String, expected: String, bad: [String])] = {
        let nonFinite = ["1e300", "-1e300", ".nan", "NaN", "nan", ".inf", "-.inf", "inf", "\"\""]
        let hugeInts = ["99999999999999999999", "9223372036854775808", "-9223372036854775809", "2.5", "1e3"]
        return [
            ("pipeline.seed", "an integer in 0…1000000", ["-1", "1000001"] + hugeInts + nonFinite),
            ("pipeline.base_resolution", "an integer in 4…256", ["0", "-1", "3", "257", "1024"] + hugeInts + nonFinite),
            ("pipeline.final_resolution", "an integer in 4…256", ["0", "-1", "260", "4096"] + hugeInts + nonFinite),
            ("pipeline.ddpm.steps", "an integer in 1…1000000", ["0", "-1", "1000001"] + hugeInts + nonFinite),
            ("pipeline.ddpm.batch", "an integer in 1…1024", ["0", "-1", "1025", "65536"] + hugeInts + nonFinite),
            ("pipeline.ddpm.lr", "a number in [1e-08, 1]", ["0", "-1", "1.5", "-0.0", "1e-9", "5e-324"] + nonFinite),
            ("pipeline.ddpm.cond_drop", "a number in [0, 1)", ["-0.1", "1", "-1"] + nonFinite),
            ("pipeline.ddpm.ema", "a number in [0, 1)", ["-0.1", "1", "1.5"] + nonFinite),
            ("pipeline.upsampler.steps", "an integer in 1…1000000", ["0", "-1", "1000001"] + hugeInts + nonFinite),
            ("pipeline.upsampler.batch", "an integer in 1…1024", ["0", "-1", "1025"] + hugeInts + nonFinite),
            ("pipeline.sample.per_real", "a number in (0, 100]", ["0", "-1", "100.5", "1e300"] + nonFinite),
            ("pipeline.sample.guidance", "a number in [0, 100]", ["-1", "101", "1e300"] + nonFinite),
            ("pipeline.sample.sampling_steps", "an integer in 1…1000", ["0", "-1", "1001", "100000"] + hugeInts + nonFinite),
            ("pipeline.sample.strength", "a number in (0, 1]", ["0", "-1", "1.01"] + nonFinite),
            ("pipeline.mix.alpha[0]", "a number in [0, 1]", ["-0.5", "1.5"] + nonFinite),
            ("pipeline.classifier.epochs", "an integer in 1…1000", ["0", "-1", "1001"] + hugeInts + nonFinite),
            ("pipeline.classifier.batch", "an integer in 2…1024", ["0", "1", "-1", "1025"] + hugeInts + nonFinite),
            ("pipeline.classifier.seeds", "an integer in 1…100", ["0", "-1", "101", "1000"] + hugeInts + nonFinite),
        ]
    }()

    @Test(arguments: numericKeys.map(\.path))
    func numericKeyOutOfRangeNamesTheKeyAndTheRange(path: String) throws {
        let entry = try #require(Self.numericKeys.first { $0.path == path })
        for value in entry.bad {
            let e = manifestError(basicManifest + pipelineSetting(path, value))
            #expect(e?.code == .invalidValue, "\(path): \(value)")
            #expect(e?.location == path, "\(path): \(value) → \(e?.description ?? "accepted")")
            #expect(e?.expected == entry.expected, "\(path): \(value) → \(e?.description ?? "accepted")")
        }
    }

    @Test func everyNumericKeyOfThePipelineIsInTheTable() throws {
        // The table above must not miss a key: each numeric key of the parser, found through the error of a
        // non-number, is listed.
        let keys = ["seed", "base_resolution", "final_resolution", "ddpm.steps", "ddpm.batch", "ddpm.lr", "ddpm.cond_drop", "ddpm.ema",
                    "upsampler.steps", "upsampler.batch", "sample.per_real", "sample.guidance", "sample.sampling_steps",
                    "sample.strength", "mix.alpha[0]", "classifier.epochs", "classifier.batch", "classifier.seeds"]
        #expect(Set(keys.map { "pipeline." + $0 }) == Set(Self.numericKeys.map(\.path)))
        for key in keys {
            let e = manifestError(basicManifest + pipelineSetting("pipeline." + key, "many"))
            #expect(e?.expected.hasPrefix("an integer in") == true || e?.expected.hasPrefix("a number in") == true, "\(key)")
        }
        // Values at the bounds pass.
        var text = basicManifest + "pipeline:\n  base_resolution: 4\n  final_resolution: 256\n"
        text += "  ddpm: {steps: 1000000, batch: 1024, lr: 1, cond_drop: 0, ema: 0}\n"
        text += "  upsampler: {steps: 1, batch: 64}\n"
        text += "  sample: {per_real: 100, guidance: 100, sampling_steps: 1000, strength: 1}\n"
        text += "  mix: {alpha: [0, 1]}\n  classifier: {epochs: 1000, batch: 64, seeds: 100}\n"
        let m = try Manifest.parse(text: text, file: "x.yaml")
        #expect(m.pipeline.ddpm?.steps == 1_000_000 && m.pipeline.sample?.perReal == 100 && m.pipeline.classifier?.seeds == 100)
    }

    @Test func crossKeyRulesOnResolutionBatchAndArch() {
        func error(_ pipeline: String) -> DatasetError? { manifestError(basicManifest + "pipeline:\n" + pipeline) }
        #expect(error("  base_resolution: 6\n  final_resolution: 12\n")?.location == "pipeline.base_resolution")
        #expect(error("  base_resolution: 6\n  final_resolution: 12\n")?.expected == "a multiple of 4 in 4…256")
        let batch = error("  final_resolution: 256\n  classifier: {batch: 128}\n")
        #expect(batch?.location == "pipeline.classifier.batch")
        #expect(batch?.description == "inbox/x.yaml: pipeline.classifier.batch: found 128 at 256×256, expected batch × resolution² ≤ 4194304 (at most 64 at 256×256)")
        #expect(error("  base_resolution: 128\n  ddpm: {batch: 512}\n")?.location == "pipeline.ddpm.batch")
        #expect(error("  final_resolution: 256\n  upsampler: {batch: 100}\n")?.location == "pipeline.upsampler.batch")
        #expect(error("  final_resolution: 256\n  upsampler: {batch: 64}\n") == nil)
        let arch = error("  classifier: {arch: resnet101}\n")
        #expect(arch?.description == "inbox/x.yaml: pipeline.classifier.arch: found \"resnet101\", "
            + "expected one of resnet18, resnet34, resnet50")
        #expect(error("  classifier: {arch: resnet34}\n") == nil && error("  classifier: {arch: resnet50}\n") == nil)
        #expect(error("  sample: {sampler: ddim, sampling_steps: 4}\n")?.location == "pipeline.sample.sampling_steps")
    }

    @Test func classCountAndListLengthsAreBounded() throws {
        func classes(_ n: Int) -> String {
            basicManifest.replacingOccurrences(of: "classes: [a, b]", with: "classes: [" + (0..<n).map { "c\($0)" }.joined(separator: ", ") + "]")
        }
        #expect(try Manifest.parse(text: classes(ManifestLimits.maxClasses), file: "x.yaml").label.classes.count == 1000)
        let e = manifestError(classes(ManifestLimits.maxClasses + 1))
        #expect(e?.description == "inbox/x.yaml: label.classes: found a list of 1001 entries, expected at most 1000 entries")
        let columns = basicManifest.replacingOccurrences(of: "label: {kind: single, column: dx, classes: [a, b]}",
                                                         with: "label: {kind: multi, columns: [" + (0...1000).map { "c\($0)" }.joined(separator: ", ") + "]}")
        #expect(manifestError(columns)?.location == "label.columns")
        let attributes = basicManifest.replacingOccurrences(of: "attributes: [tone]", with: "attributes: [" + (0...32).map { "a\($0)" }.joined(separator: ", ") + "]")
        #expect(manifestError(attributes)?.location == "attributes")
        let alphas = basicManifest + "pipeline:\n  mix: {alpha: [" + (0...21).map { "\(Double($0) / 100)" }.joined(separator: ", ") + "]}\n"
        #expect(manifestError(alphas)?.location == "pipeline.mix.alpha")
    }

    @Test func tableRowsTimesClassesAreBoundedBeforeAllocation() throws {
        let m = try Manifest.parse(text: basicManifest.replacingOccurrences(of: "classes: [a, b]", with: "classes: [a, b, c, d, e]"),
                                   file: "x.yaml")
        var csv = "path,dx,tone\n"
        for i in 0..<4 { csv += "img/\(i).png,a,dark\n" }
        // 4 rows × 5 classes = 20 entries: fits a bound of 20, not one of 19 (refused at the 4th row, CSV row 5).
        #expect(try DatasetTable.parse(Array(csv.utf8), manifest: m, file: "d.tar", maxLabelEntries: 20).rows.count == 4)
        do {
            _ = try DatasetTable.parse(Array(csv.utf8), manifest: m, file: "d.tar", maxLabelEntries: 19)
            Issue.record("a table past the label bound was accepted")
        } catch let e as DatasetError {
            #expect(e.row == 5 && e.description == "d.tar: t.csv row 5: found more than 3 rows with 5 classes, expected rows × classes ≤ 19")
        }
    }
}

/// The baselines' keys: the augmentation setting, the opt-in stacked variants, and oversampling only
/// where there is something to resample over.
@Suite struct BaselineManifestTests {
    func error(_ text: String) -> DatasetError? { manifestError(text) }

    @Test func augmentAndStackedBaselinesParse() throws {
        let m = try Manifest.parse(text: basicManifest + "pipeline:\n  classifier: {augment: randaugment+imagenet, "
                                   + "baselines: [heuristic, synthetic+heuristic, synthetic+oversample]}\n", file: "x.yaml")
        #expect(m.pipeline.classifier?.augment == .randaugmentImagenet)
        #expect(m.pipeline.classifier?.baselines == [.heuristic, .syntheticHeuristic, .syntheticOversample])
        let bad = error(basicManifest + "pipeline:\n  classifier: {augment: autoaugment}\n")
        #expect(bad?.description == "inbox/x.yaml: pipeline.classifier.augment: found \"autoaugment\", "
            + "expected one of imagenet, randaugment, randaugment+imagenet")
    }

    @Test func oversamplingNeedsAnAttributeOrADomain() throws {
        let bare = basicManifest.replacingOccurrences(of: "attributes: [tone]\n", with: "")
        for b in ["oversample", "synthetic+oversample"] {
            let e = error(bare + "pipeline:\n  classifier: {baselines: [none, \(b)]}\n")
            #expect(e?.description == "inbox/x.yaml: pipeline.classifier.baselines[1]: found \"\(b)\", "
                + "expected attributes or domain_column to resample over (this manifest has neither)")
        }
        // A domain column alone is something to resample over (histopathology's hospital).
        #expect(error(bare + "domain_column: hospital\npipeline:\n  classifier: {baselines: [oversample]}\n") == nil)
        #expect(error(bare + "pipeline:\n  classifier: {baselines: [focal, heuristic]}\n") == nil)
    }
}
