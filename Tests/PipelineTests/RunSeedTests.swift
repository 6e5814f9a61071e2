import Foundation
import Testing
@testable import Datasets
@testable import Pipeline

/// `pipeline.seed`: one key that moves every random stream of a run (to check a result does not rest on
/// lucky seeds), while the default run — key absent or 0 — keeps its seeds and its cache keys.
@Suite struct RunSeedTests {
    static func config(_ seedLine: String) throws -> ChainConfig {
        let m = try BaselineVariantTests.manifest(pipeline: "  base_resolution: 16\n  final_resolution: 32\n" + seedLine)
        return ChainConfig.resolve(manifest: m, profile: .default, threads: 1)
    }

    /// What a stage key hashes of a config slice: its JSON encoding.
    static func json(_ slice: ClassifyStage.Slice) throws -> String {
        String(decoding: try JSONEncoder().encode(slice), as: UTF8.self)
    }

    @Test func absentAndZeroAreTheProfileSeeds() throws {
        let absent = try Self.config("")
        #expect(try Self.config("  seed: 0\n") == absent)
        #expect(absent.classify.runSeed == nil)
        // The classify slice of the default run encodes no run seed, so its stage keys stay as before.
        let slice = ClassifyStage.Slice(variant: "baseline", seed: 2, arch: "resnet18", widths: [8], epochs: 1, batch: 2,
                                        lr: 0.1, resolution: 32, oversampleAttribute: nil, augment: nil, threads: 1,
                                        runSeed: absent.classify.runSeed)
        #expect(!(try Self.json(slice)).contains("runSeed"))
        #expect(slice.effectiveSeed == 2)
    }

    @Test func aRunSeedMovesEveryStream() throws {
        let base = try Self.config("")
        let moved = try Self.config("  seed: 3\n")
        let shift = 3 * ChainConfig.seedStride
        #expect(moved.ddpm.seed == base.ddpm.seed + shift)
        #expect(moved.upsampler?.seed == base.upsampler.map { $0.seed + shift })
        #expect(moved.sample.seed == base.sample.seed + shift)
        #expect(moved.classify.runSeed == 3)
        let slice = ClassifyStage.Slice(variant: "baseline", seed: 2, arch: "resnet18", widths: [8], epochs: 1, batch: 2,
                                        lr: 0.1, resolution: 32, oversampleAttribute: nil, augment: nil, threads: 1,
                                        runSeed: moved.classify.runSeed)
        #expect(slice.effectiveSeed == 2 + shift)
        #expect(try Self.json(slice).contains("runSeed"))
        // Everything else is the same run.
        var same = moved
        same.ddpm.seed = base.ddpm.seed; same.upsampler?.seed = base.upsampler!.seed
        same.sample.seed = base.sample.seed; same.classify.runSeed = nil
        #expect(same == base)
    }

    @Test func outOfRangeSeedIsRefusedByName() throws {
        #expect(throws: (any Error).self) { try Self.config("  seed: -1\n") }
        do {
            _ = try Self.config("  seed: 1000001\n")
            Issue.record("seed 1000001 was accepted")
        } catch {
            #expect("\(error)".contains("pipeline.seed"))
        }
    }
}
