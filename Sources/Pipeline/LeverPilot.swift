import Classifier
import Fairness
import Foundation

/// Chooses fair-sample's two levers on `val` before the full draw (issue 11): the classifier-free guidance
/// weight w and the auditor-confidence threshold t below which a synthetic image is redrawn.
///
/// For each w, a small *pilot* (`pilot_per_cell` images per (class, attribute value) cell) is drawn and the
/// auditor — the baseline classifier, trained on real data only — scores it. For each t, the pilot images
/// the filter would keep (auditor probability of the conditioned class ≥ t) are compared, cell by cell,
/// with the real `val` images of the same cell: MMD² in the auditor's penultimate features (the same cubic
/// kernel as the domain MMD). The setting with the lowest mean over cells wins.
///
/// Why this rule: it rewards images that look like real images of the cell they were asked for (fidelity)
/// *and* that spread like them (diversity — a high w or t that collapses a cell onto its most canonical
/// look is penalised), it weighs every cell equally (the minority cells are the point), and it touches no
/// test split. It needs no classifier training per setting, so a sweep costs pilots, not runs.
/// Ties (equal scores) go to the earlier setting: lower w, then lower t — the cheaper draw.
public enum LeverPilot {
    /// One lever setting.
    public struct Setting: Codable, Equatable, Sendable {
        public var guidance: Double
        public var minConfidence: Double
        public init(guidance: Double, minConfidence: Double) { self.guidance = guidance; self.minConfidence = minConfidence }
    }

    /// The auditor's view of a set of images and what each was conditioned on (class, attribute value
    /// index; −1 = none).
    public struct Scored: Sendable {
        public var outputs: ClassifierOutputs
        public var classes: [Int]
        public var values: [Int]
        public init(outputs: ClassifierOutputs, classes: [Int], values: [Int]) {
            precondition(outputs.count == classes.count && classes.count == values.count, "LeverPilot.Scored: counts differ")
            self.outputs = outputs; self.classes = classes; self.values = values
        }

        /// The auditor's probability of image i's conditioned class.
        public func confidence(_ i: Int) -> Double {
            Double(outputs.scores[i * outputs.classes + classes[i]])
        }
    }

    /// One candidate's score.
    public struct Candidate: Codable, Equatable, Sendable {
        public var setting: Setting
        /// Mean per-cell MMD² against `val` (nil: some cell kept fewer than two pilot images).
        public var score: Double?
        /// Pilot images the filter kept, of those drawn.
        public var kept: Int
        public var drawn: Int
        /// Cells that entered the mean.
        public var cells: Int
    }

    public struct Choice: Sendable {
        public var chosen: Setting
        public var candidates: [Candidate]
    }

    public static let rule = "lowest mean over (class, attribute value) cells of MMD² between the pilot images the "
        + "filter keeps and the real val images of the cell, in the auditor's features; ties → lower guidance, then lower threshold"

    /// Scores every (w, t) pair. `pilots` holds one scored pilot per guidance weight, in sweep order.
    /// A cell enters when `val` has at least two images of it; a setting whose filter leaves fewer than
    /// two pilot images in such a cell cannot be scored there and is not chosen (t = 0 keeps everything,
    /// so some setting is always scorable unless `val` has no cell with two images — then the first
    /// setting is used and every score is nil).
    public static func choose(pilots: [(guidance: Double, scored: Scored)], thresholds: [Double],
                              validation: Scored) -> Choice {
        precondition(!pilots.isEmpty && !thresholds.isEmpty, "LeverPilot: nothing to choose from")
        var cells: [Int: [Int]] = [:]   // cell key → val rows
        // Cell key = class · width + (value + 1), with a width above every value index of either side.
        let width = ([validation.values.max() ?? 0] + pilots.map { $0.scored.values.max() ?? 0 }).max()! + 2
        func key(_ c: Int, _ v: Int) -> Int { c * width + (v + 1) }
        for i in validation.classes.indices { cells[key(validation.classes[i], validation.values[i]), default: []].append(i) }
        let eligible = cells.filter { $0.value.count >= 2 }.keys.sorted()
        let valFeatures = validation.outputs.featureSet

        var candidates: [Candidate] = []
        for (w, pilot) in pilots {
            let features = pilot.outputs.featureSet
            for t in thresholds {
                let kept = pilot.classes.indices.filter { pilot.confidence($0) >= t }
                var total = 0.0, scorable = true
                for cell in eligible {
                    let rows = kept.filter { key(pilot.classes[$0], pilot.values[$0]) == cell }
                    guard rows.count >= 2, validation.outputs.featureDim > 0 else { scorable = false; break }
                    total += mmdSquared(features.selecting(rows: rows), valFeatures.selecting(rows: cells[cell]!))
                }
                let score = scorable && !eligible.isEmpty ? total / Double(eligible.count) : nil
                candidates.append(Candidate(setting: Setting(guidance: w, minConfidence: t), score: score,
                                            kept: kept.count, drawn: pilot.classes.count, cells: eligible.count))
            }
        }
        var best = candidates[0]
        for c in candidates.dropFirst() {
            guard let s = c.score else { continue }
            if best.score == nil || s < best.score! { best = c }
        }
        return Choice(chosen: best.setting, candidates: candidates)
    }

    /// What fair-sample did with its levers (its `levers` output; metrics.json `levers`).
    public struct Record: Codable, Equatable, Sendable {
        public var pilotPerCell: Int
        public var chosen: Setting
        /// Every (w, t) pair the pilot scored (empty when there was nothing to choose).
        public var candidates: [Candidate]
        /// Images the confidence filter sent back for another draw, and those still below the threshold
        /// after `FairSampleStage.maxRedraws` redraws (kept, so that every planned image exists).
        public var redrawn: Int
        public var belowThresholdAfterRedraws: Int

        /// Canonical bytes (sorted keys) for the stage output.
        func encoded() throws -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Array(try encoder.encode(self))
        }

        static func decode(_ bytes: [UInt8]) throws -> Record {
            do { return try JSONDecoder().decode(Record.self, from: Data(bytes)) } catch {
                throw PipelineError("fair-sample levers record: not the expected JSON")
            }
        }

        /// metrics.json `levers` (docs/metrics.md).
        var json: JSONValue {
            .object([
                JSONMember("rule", .string(LeverPilot.rule)),
                JSONMember("pilot_per_cell", .int(pilotPerCell)),
                JSONMember("chosen", .object([
                    JSONMember("guidance", .number(chosen.guidance)),
                    JSONMember("min_confidence", .number(chosen.minConfidence)),
                ])),
                JSONMember("candidates", .array(candidates.map { c in
                    .object([
                        JSONMember("guidance", .number(c.setting.guidance)),
                        JSONMember("min_confidence", .number(c.setting.minConfidence)),
                        JSONMember("score", .number(c.score)),
                        JSONMember("kept", .int(c.kept)),
                        JSONMember("drawn", .int(c.drawn)),
                        JSONMember("cells", .int(c.cells)),
                    ])
                })),
                JSONMember("redrawn", .int(redrawn)),
                JSONMember("below_threshold_after_redraws", .int(belowThresholdAfterRedraws)),
            ])
        }
    }
}
