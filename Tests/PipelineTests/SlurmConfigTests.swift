import Foundation
import Store
import Testing
@testable import Daemon
@testable import Datasets
@testable import Pipeline

/// `STORE/config/slurm.yaml` (docs/cluster.md), the reading of Slurm's job states, and how a chain's
/// stages become jobs (which stages, which arrays, which dependencies).
struct SlurmConfigTests {
    @Test func aFullConfigIsReadWithPerStageOverrides() throws {
        let text = """
            partition: compute
            account: proj-42
            cpus: 8
            memory: 32G
            time: "12:00:00"
            max_resubmits: 5
            poll_seconds: 2.5
            fairgen: /shared/bin/fairgen
            setup: |
              module load openblas
            sbatch_args: ["--qos=normal"]
            stages:
              train-ddpm: {partition: long, time: "2-00:00:00", memory: 64G}
              classify: {cpus: 4}
            """
        let c = try SlurmConfig.parse(text, file: "slurm.yaml")
        #expect(c.maxResubmits == 5 && c.pollSeconds == 2.5 && c.fairgen == "/shared/bin/fairgen")
        #expect(c.setup == "module load openblas\n" && c.sbatchArgs == ["--qos=normal"])
        #expect(c.resources(for: "train-ddpm") == SlurmConfig.Resources(partition: "long", account: "proj-42", cpus: 8,
                                                                         memory: "64G", time: "2-00:00:00"))
        #expect(c.resources(for: "classify").cpus == 4 && c.resources(for: "classify").partition == "compute")
        #expect(c.resources(for: "evaluate") == c.defaults)
        #expect(try SlurmConfig.parse("", file: "slurm.yaml") == SlurmConfig())
    }

    @Test func badValuesNameTheFileTheFieldAndWhatWasExpected() {
        let cases: [(String, String)] = [
            ("cpus: zero", "slurm.yaml: cpus: expected an integer 1…4096"),
            ("memory: lots", "slurm.yaml: memory: expected a size"),
            ("time: 25:99:00", "slurm.yaml: time: expected a Slurm time limit"),
            ("time: 1-30", "slurm.yaml: time: expected a Slurm time limit"),
            ("partition: \"a b\"", "slurm.yaml: partition: expected a Slurm name"),
            ("fairgen: bin/fairgen", "slurm.yaml: fairgen: expected an absolute path"),
            ("sbatch_args: [\"-p x\"]", "slurm.yaml: sbatch_args: expected a list of sbatch options"),
            ("gpus: 1", "slurm.yaml: gpus: unknown key; expected one of"),
            ("stages: {train: {cpus: 2}}", "slurm.yaml: stages.train: unknown stage group"),
            ("stages: {classify: {gpus: 2}}", "slurm.yaml: stages.classify.gpus: unknown key"),
            ("max_resubmits: -1", "slurm.yaml: max_resubmits: expected an integer 0…100"),
            ("- a list", "slurm.yaml: expected a YAML mapping"),
        ]
        for (text, expected) in cases {
            #expect { try SlurmConfig.parse(text, file: "slurm.yaml") } throws: { error in
                (error as? DaemonError)?.message.hasPrefix(expected) == true
            }
        }
        for ok in ["30", "30:00", "12:00:00", "2-00", "2-12:30", "2-12:30:00"] { #expect(SlurmConfig.isTimeLimit(ok), "\(ok)") }
    }

    @Test func jobStatesFromSqueueAndSacctAreRead() {
        let squeue = "101|COMPLETED\n102_0|RUNNING\n102_3|CANCELLED\n103_[4-7]|PENDING\n"
        let states = SlurmCommand.parseStates(squeue)
        #expect(states == ["101": "COMPLETED", "102_0": "RUNNING", "102_3": "CANCELLED", "103_*": "PENDING"])
        #expect(SlurmCommand.parseStates("104|CANCELLED by 0\n") == ["104": "CANCELLED by 0"])
        #expect(SlurmCommand.classify("CANCELLED by 0") == .retry)
        #expect(SlurmCommand.classify("NODE_FAIL") == .retry && SlurmCommand.classify("PREEMPTED") == .retry)
        #expect(SlurmCommand.classify("FAILED") == .failed && SlurmCommand.classify("OUT_OF_MEMORY") == .failed)
        #expect(SlurmCommand.classify("COMPLETING") == .active && SlurmCommand.classify("PENDING") == .active)
        #expect(SlurmCommand.classify("COMPLETED") == .completed)
        #expect(SlurmCommand.shellQuote("it's") == "'it'\\''s'")
    }

    /// With nothing cached: ingest alone, then one job per stage and two arrays — the real-data
    /// classifiers (they need only the dataset) and the synthetic ones (they need fair-sample).
    @Test func stagesBecomeJobsWithArraysAndAfterokDependencies() throws {
        let manifest = try Manifest.parse(text: DemoDrop.manifest, file: "demo.yaml")
        let config = ChainConfig.resolve(manifest: manifest, profile: .quick, threads: 2)
        let nothing = ChainPlan(config: config, ingest: Stage(name: "ingest", codeVersion: "x", config: .null) { _ in [:] }) { stage in
            throw ChainPlan.NotCached(stage: stage.name, key: "")
        }
        let groups = SlurmExecutor.groups(config: config, cached: nothing)
        #expect(groups.map(\.name) == ["ingest", "train-ddpm", "train-upsampler", "classify-real", "fair-sample",
                                       "classify-synthetic", "evaluate"])
        let byName = Dictionary(uniqueKeysWithValues: groups.enumerated().map { ($1.name, $0) })
        let seeds = config.classify.seeds
        let variants = config.variants
        #expect(groups[byName["classify-real"]!].tasks!.sorted()
            == variants.indices.filter { !variants[$0].usesSynthetic }.flatMap { v in (0..<seeds).map { v * seeds + $0 } })
        #expect(groups[byName["classify-synthetic"]!].tasks!.count == variants.filter(\.usesSynthetic).count * seeds)
        #expect(groups[byName["classify-real"]!].dependsOn == [byName["ingest"]!])
        #expect(groups[byName["fair-sample"]!].dependsOn.sorted()
            == [byName["ingest"]!, byName["train-ddpm"]!, byName["train-upsampler"]!, byName["classify-real"]!].sorted())
        #expect(groups[byName["classify-synthetic"]!].dependsOn.sorted() == [byName["ingest"]!, byName["fair-sample"]!].sorted())
        #expect(groups[byName["evaluate"]!].dependsOn.sorted()
            == [byName["ingest"]!, byName["classify-real"]!, byName["fair-sample"]!, byName["classify-synthetic"]!].sorted())
        // A task index names one classifier stage, as `fairgen stage run --task` reads it.
        let task = groups[byName["classify-synthetic"]!].tasks!.first!
        #expect(try ChainPlan.node(stage: "classify", variant: nil, seed: nil, task: task, config: config)
            == .classify(variant: task / seeds, seed: task % seeds))
        #expect(throws: PipelineError.self) { try ChainPlan.node(stage: "train", variant: nil, seed: nil, task: nil, config: config) }
    }
}
