import Datasets
import Foundation
import Testing
@testable import Pipeline
import Store

/// `pipeline.ddpm.micro_batches` / `pipeline.upsampler.micro_batches` (docs/manifest.md, docs/mpi.md).
@Suite struct MicroBatchConfigTests {
    static func config(_ pipeline: String) throws -> ChainConfig {
        let m = try Manifest.parse(text: ManifestHardeningTests.head + "pipeline: {base_resolution: 16, final_resolution: 32" + pipeline + "}\n",
                                   file: "x.yaml")
        return ChainConfig.resolve(manifest: m, profile: .quick, threads: 2)
    }

    /// The keys reach both training stages and change their keys; 1 (the default) is left out of the
    /// config slices, so a manifest that says 1 and one that says nothing have the keys of before.
    @Test func keysReachTheStagesAndTheDefaultLeavesKeysUnchanged() throws {
        let none = try Self.config(""), one = try Self.config(", ddpm: {micro_batches: 1}, upsampler: {micro_batches: 1}")
        let set = try Self.config(", ddpm: {micro_batches: 2}, upsampler: {micro_batches: 4}")
        #expect(set.ddpm.microBatches == 2 && set.upsampler?.microBatches == 4)
        #expect(none == one && none.ddpm.microBatches == nil && none.upsampler?.microBatches == nil)
        let id = ObjectID(String(repeating: "cd", count: 32))!
        let ddpm = try DiffusionStages.trainDDPM(config: none, dataset: id), up = try DiffusionStages.trainUpsampler(config: none, dataset: id)
        #expect(!"\(ddpm.config)".contains("microBatches") && !"\(up.config)".contains("microBatches"))
        #expect(ddpm.dataParallel && up.dataParallel)
        #expect(try ddpm.key() != DiffusionStages.trainDDPM(config: set, dataset: id).key())
        #expect(try up.key() != DiffusionStages.trainUpsampler(config: set, dataset: id).key())
    }

    @Test func outOfRangeIsRefusedNamingTheKey() throws {
        for (text, key) in [(", ddpm: {micro_batches: 0}", "pipeline.ddpm.micro_batches"),
                            (", upsampler: {micro_batches: 2000}", "pipeline.upsampler.micro_batches")] {
            do {
                _ = try Self.config(text)
                Issue.record("\(text) accepted")
            } catch let e as DatasetError {
                #expect(e.location == key, "\(e)")
            }
        }
    }
}
