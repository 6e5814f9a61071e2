import Datasets
import Foundation
import Models

/// A projected run time for a resolved configuration: an estimate, not a measurement. Each stage's work is
/// counted in convolution FLOPs (the generator UNets and the ResNet classifier dominate every run) and
/// divided by one effective rate, `flopsPerSecondPerThread` × threads, calibrated on the default-profile
/// demo on the 2-core development machine (docs/performance.md: DDPM 2.7 GFLOP/step at 7.6 steps/s,
/// upsampler ≈ 15, fair sampling ≈ 17, classifiers ≈ 30 GFLOP/s; the single rate of 20 GFLOP/s puts the
/// demo at ≈ 15 min against 12.6 min measured). Attention, normalisation, data loading and evaluation are
/// left out, and stages the run-cache already holds take no time at all, so the number is an order of
/// magnitude to decide whether to start, not a promise.
public struct RunEstimate: Sendable, Equatable {
    /// (stage, seconds), in chain order.
    public var stages: [(name: String, seconds: Double)]
    /// Classifier trainings counted (variants × seeds).
    public var classifiers: Int

    public static func == (a: RunEstimate, b: RunEstimate) -> Bool {
        a.classifiers == b.classifiers && a.stages.map(\.name) == b.stages.map(\.name)
            && a.stages.map(\.seconds) == b.stages.map(\.seconds)
    }

    /// Effective FLOP/s of one thread on the development machine (≈ 20 GFLOP/s with 2 threads).
    public static let flopsPerSecondPerThread = 10e9

    public var totalSeconds: Double { stages.reduce(0) { $0 + $1.seconds } }

    /// Estimates `config` for a dataset with `trainRows` labeled training rows, `rows` rows in all and
    /// `cells` (class, fair-sample attribute value) cells among the training rows (the lever pilot's size).
    public init(config c: ChainConfig, trainRows: Int, rows: Int, cells: Int = 1) {
        let rate = Self.flopsPerSecondPerThread * Double(max(1, c.threads))
        var stages: [(String, Double)] = []
        let d = c.ddpm
        let baseForward = Self.unetForwardFLOPs(resolution: d.resolution, channels: d.channels, mults: d.mults, resBlocks: d.resBlocks)
        // Training = forward + backward ≈ 3 forwards.
        stages.append(("train-ddpm", Double(d.steps) * Double(d.batch) * 3 * baseForward / rate))
        var upForward = 0.0
        if let u = c.upsampler {
            upForward = Self.unetForwardFLOPs(resolution: u.to, channels: u.channels, mults: u.mults, resBlocks: u.resBlocks)
            stages.append(("train-upsampler", Double(u.steps) * Double(u.batch) * 3 * upForward / rate))
        }
        let s = c.sample
        let images = (Double(trainRows) * s.perReal).rounded()
        let steps = Double(s.sampler == "ddpm" ? d.timesteps : s.samplingSteps)
        // Guidance w ≠ 1 runs each step on the doubled batch [x; x] with [c; ∅]. The full draw is costed at the
        // dearest candidate weight; the lever pilot draws `pilot_per_cell` images per cell at every weight.
        func evals(_ w: Double) -> Double { steps * (w == 1 ? 1 : 2) }
        var sampling = images * (s.guidanceCandidates.map(evals).max() ?? steps)
        if s.guidanceCandidates.count > 1 || s.minConfidence.count > 1 {
            sampling += s.guidanceCandidates.map { Double(max(1, cells)) * Double(s.pilotPerCell) * evals($0) }.reduce(0, +)
        }
        stages.append(("fair-sample", sampling * (baseForward + upForward) / rate))
        let k = c.classify
        let resolution = c.upsampler?.to ?? d.resolution
        let layout = ChainConfig.resnetLayout(arch: k.arch) ?? (ResNetConfig.resnet18Blocks, false)
        let resnet = Self.resnetForwardFLOPs(resolution: resolution, widths: k.widths, blocks: layout.blocks,
                                             bottleneck: layout.bottleneck)
        let stepsPerEpoch = Double(max(1, (trainRows + k.batch - 1) / k.batch))
        // Per classifier: the training steps, plus one forward pass over every row (the predictions).
        let perClassifier = (Double(k.epochs) * stepsPerEpoch * Double(k.batch) * 3 + Double(rows)) * resnet
        classifiers = c.variants.count * k.seeds
        stages.append(("classify", Double(classifiers) * perClassifier / rate))
        self.stages = stages
    }

    /// One line: `projected run time (estimate): ~13 min — train-ddpm 3.6 min, …`.
    public var summary: String {
        let parts = stages.map { "\($0.name) \(Self.format($0.seconds))" }.joined(separator: ", ")
        return "projected run time (estimate, if nothing is cached): ~\(Self.format(totalSeconds)) — \(parts) (\(classifiers) classifiers)"
    }

    static func format(_ seconds: Double) -> String {
        if seconds < 90 { return "\(Int(seconds.rounded())) s" }
        if seconds < 90 * 60 { return String(format: "%.1f min", seconds / 60) }
        if seconds < 48 * 3600 { return String(format: "%.1f h", seconds / 3600) }
        return String(format: "%.1f days", seconds / 86400)
    }

    /// Multiply-add FLOPs (×2) of the 3×3 convolutions of one UNet forward pass on one image: per level,
    /// `resBlocks` ResBlocks down and `resBlocks + 1` up, two convolutions each, at (R/2^l)² pixels and
    /// channels × mult; the middle blocks and the down/up-sampling convolutions are folded into that count.
    static func unetForwardFLOPs(resolution: Int, channels: Int, mults: [Int], resBlocks: Int) -> Double {
        var total = 0.0
        for (level, m) in mults.enumerated() {
            let r = Double(resolution) / Double(1 << level)
            let ch = Double(channels * m)
            total += r * r * ch * ch * 9 * 2 * Double(2 * (2 * resBlocks + 1))
        }
        return total
    }

    /// FLOPs of one ResNet forward pass on one image: stem (3×3, or 7×7 stride 2 plus max-pool above
    /// 64 px), then four stages of `blocks` BasicBlocks (two 3×3 convolutions each) or bottlenecks (1×1, 3×3,
    /// 1×1 expanding 4×, with the first block's projection shortcut), stages 2–4 at stride 2; BasicBlock
    /// shortcuts are left out.
    static func resnetForwardFLOPs(resolution: Int, widths: [Int], blocks: [Int] = ResNetConfig.resnet18Blocks,
                                   bottleneck: Bool = false) -> Double {
        var r = Double(resolution)
        var total: Double
        if resolution > 64 {
            total = (r / 2) * (r / 2) * 3 * Double(widths[0]) * 49 * 2
            r /= 4
        } else {
            total = r * r * 3 * Double(widths[0]) * 9 * 2
        }
        var inChannels = Double(widths[0])
        for (stage, w) in widths.enumerated() {
            if stage > 0 { r = (r / 2).rounded(.up) }
            let width = Double(w), n = Double(blocks[stage])
            if bottleneck {
                // Per block 1×1 in→w, 3×3 w→w, 1×1 w→4w, and the first block's 1×1 in→4w shortcut (all
                // counted at the stage's output size).
                total += r * r * 2 * (inChannels * width + 9 * width * width + 4 * width * width + 4 * inChannels * width)
                total += r * r * 2 * (n - 1) * (4 * width * width + 9 * width * width + 4 * width * width)
                inChannels = 4 * width
            } else {
                total += r * r * 9 * 2 * (inChannels * width + (2 * n - 1) * width * width)
                inChannels = width
            }
        }
        return total
    }
}
