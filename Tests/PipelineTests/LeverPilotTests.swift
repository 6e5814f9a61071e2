@testable import Classifier
@testable import Datasets
import Foundation
import Testing
import Tensors
@testable import Pipeline

/// Scored images in four cells (class 0/1 × value 0/1). Each cell's features are 2-D points around the
/// cell's centre; `spread` scales their scatter, `shift` moves them, and every `wrongEvery`-th image of a
/// cell sits at the other class's centre with auditor confidence 0.1 (the others 0.9).
private func scored(perCell: Int, seed: UInt64, spread: Float = 0.3, shift: Float = 0, wrongEvery: Int = 0) -> LeverPilot.Scored {
    var rng = RNG(seed: seed)
    var scores: [Float] = [], features: [Float] = [], classes: [Int] = [], values: [Int] = []
    for c in 0..<2 {
        for v in 0..<2 {
            for i in 0..<perCell {
                let wrong = wrongEvery > 0 && i % wrongEvery == wrongEvery - 1
                let centre: (Float, Float) = wrong ? (Float(1 - c) * 3, Float(v) * 3) : (Float(c) * 3, Float(v) * 3)
                features += [centre.0 + shift + spread * (rng.uniform() - 0.5) * 3.4,
                             centre.1 + shift + spread * (rng.uniform() - 0.5) * 3.4]
                let p: Float = wrong ? 0.1 : 0.9
                scores += c == 0 ? [p, 1 - p] : [1 - p, p]
                classes.append(c); values.append(v)
            }
        }
    }
    return LeverPilot.Scored(outputs: ClassifierOutputs(scores: scores, classes: 2, features: features, featureDim: 2),
                             classes: classes, values: values)
}

@Suite struct LeverPilotTests {
    let validation = scored(perCell: 12, seed: 1)

    /// A weight whose images spread like val's beats one that collapses each cell to a shifted point.
    @Test func choosesTheGuidanceWhoseImagesLookLikeValidation() {
        let faithful = scored(perCell: 10, seed: 2)
        let collapsed = scored(perCell: 10, seed: 3, spread: 0.02, shift: 0.8)
        let choice = LeverPilot.choose(pilots: [(1, collapsed), (2, faithful)], thresholds: [0], validation: validation)
        #expect(choice.chosen == .init(guidance: 2, minConfidence: 0))
        #expect(choice.candidates.count == 2 && choice.candidates.allSatisfy { $0.cells == 4 && $0.drawn == 40 })
        #expect(choice.candidates[0].score! > choice.candidates[1].score!)
    }

    /// Half of each cell looks like the other class (and the auditor says so): filtering at 0.5 keeps the
    /// faithful half, and that wins on val.
    @Test func choosesTheConfidenceFilterWhenItRemovesWrongImages() {
        let halfWrong = scored(perCell: 12, seed: 4, wrongEvery: 2)
        let choice = LeverPilot.choose(pilots: [(1, halfWrong)], thresholds: [0, 0.5], validation: validation)
        #expect(choice.chosen == .init(guidance: 1, minConfidence: 0.5))
        #expect(choice.candidates.map(\.kept) == [48, 24])
        // With faithful images the filter removes nothing, scores tie, and the lower threshold wins.
        let clean = LeverPilot.choose(pilots: [(1, scored(perCell: 12, seed: 5))], thresholds: [0, 0.5], validation: validation)
        #expect(clean.chosen.minConfidence == 0)
        #expect(clean.candidates[0].score == clean.candidates[1].score)
    }

    /// A threshold nothing passes leaves cells empty: it cannot be scored and is never chosen.
    @Test func aThresholdThatEmptiesACellIsNotChosen() {
        let choice = LeverPilot.choose(pilots: [(1, scored(perCell: 8, seed: 6))], thresholds: [0.95, 0], validation: validation)
        #expect(choice.candidates[0].score == nil && choice.candidates[0].kept == 0)
        #expect(choice.chosen.minConfidence == 0)
    }

    /// Equal pilots: the first (lowest, cheapest) weight wins.
    @Test func tiesGoToTheFirstSetting() {
        let p = scored(perCell: 8, seed: 7)
        #expect(LeverPilot.choose(pilots: [(1, p), (3, p)], thresholds: [0], validation: validation).chosen.guidance == 1)
    }

    /// The levers record round-trips through its stage-output bytes and renders every candidate.
    @Test func recordRoundTripsAndRenders() throws {
        let choice = LeverPilot.choose(pilots: [(1, scored(perCell: 4, seed: 8))], thresholds: [0, 0.5], validation: validation)
        let record = LeverPilot.Record(pilotPerCell: 4, chosen: choice.chosen, candidates: choice.candidates,
                                       redrawn: 3, belowThresholdAfterRedraws: 1)
        let bytes = try record.encoded()
        #expect(try LeverPilot.Record.decode(bytes) == record)
        #expect(try record.encoded() == bytes)
        guard case .array(let rows)? = record.json["candidates"] else { Issue.record("no candidates"); return }
        #expect(rows.count == 2 && record.json["redrawn"]?.doubleValue == 3)
        #expect(throws: PipelineError.self) { try LeverPilot.Record.decode(Array("{\"x\":1}".utf8)) }
    }

    /// The pilot plan takes `perCell` examples of every cell, repeating a cell's examples when it has fewer.
    @Test func pilotPlanCoversEveryCell() {
        func p(_ label: String, _ tone: String) -> FairSampleStage.Planned {
            FairSampleStage.Planned(cond: [], label: label, attributes: ["tone": tone], source: nil)
        }
        let plan = [p("a", "x"), p("a", "y"), p("b", "x"), p("a", "x"), p("a", "x"), p("a", "x")]
        let pilot = FairSampleStage.pilot(plan, perCell: 3, attribute: "tone")
        #expect(pilot.count == 9)
        #expect(pilot.filter { $0.label == "a" && $0.attributes["tone"] == "y" }.count == 3)
        #expect(pilot.filter { $0.label == "b" }.count == 3)
    }

    /// `guidance` takes one number or a list (a sweep); `min_confidence` likewise; errors name the key.
    @Test func manifestLeverKeys() throws {
        func parse(_ sample: String) throws -> SampleConfig? {
            try Manifest.parse(text: ManifestHardeningTests.head + "pipeline:\n  sample: {\(sample)}\n", file: "x.yaml").pipeline.sample
        }
        #expect(try parse("guidance: 2")?.guidance == 2)
        #expect(try parse("guidance: 2")?.guidanceSweep == nil)
        #expect(try parse("guidance: [1, 2, 3]")?.guidanceSweep == [1, 2, 3])
        #expect(try parse("guidance: [2]")?.guidance == 2)
        #expect(try parse("min_confidence: [0, 0.5]")?.minConfidence == [0, 0.5])
        #expect(try parse("pilot_per_cell: 6")?.pilotPerCell == 6)
        for (bad, key) in [("guidance: [1, 1]", "pipeline.sample.guidance[1]"), ("min_confidence: 1", "pipeline.sample.min_confidence"),
                           ("guidance: [1, 2, 3, 4, 5], min_confidence: [0, 0.1, 0.2, 0.3]", "pipeline.sample"),
                           ("pilot_per_cell: 1", "pipeline.sample.pilot_per_cell"), ("guidance: []", "pipeline.sample.guidance")] {
            do { _ = try parse(bad); Issue.record("accepted \(bad)") } catch let e as DatasetError {
                #expect("\(e)".contains(key), "\(bad): \(e)")
            }
        }
        // The config: a sweep needs the auditor; one weight and no filter does not.
        var s = ChainConfig.Sample(strategy: "fair", attribute: "tone", perReal: 1, guidance: 1, sampler: "ddim",
                                   samplingSteps: 10, strength: 0.5, batch: 8, seed: 1)
        #expect(!s.usesAuditor && s.guidanceCandidates == [1])
        s.guidanceSweep = [1, 2]
        #expect(s.usesAuditor && s.guidanceCandidates == [1, 2])
        s.guidanceSweep = []; s.minConfidence = [0.3]
        #expect(s.usesAuditor)
    }
}
