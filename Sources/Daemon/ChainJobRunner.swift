import Datasets
import Foundation
import Logging
import Pipeline
import Store

/// The daemon's real runner: one job = the whole chain (`Pipeline.Chain`) for its drop, or every level of
/// its experiment (`Pipeline.Experiment`) when the manifest has an `experiment:` block.
///
/// - ingest job: the manifest and archive copies in the job's work folder;
/// - reprocess job: the manifest copy, and the archive the dataset's newest version kept under `input/`.
/// Cancellation (SIGTERM, stop) is polled between training steps: the training stage checkpoints and the
/// job returns `.interrupted`; the next start reopens the same version and resumes.
public struct ChainJobRunner: JobRunner {
    public var profile: Profile
    public var threads: Int
    /// Where the stages run: this process, or Slurm jobs (settings read from the store for each job).
    public var executor: ExecutorKind

    public init(profile: Profile = .default, threads: Int = 2, executor: ExecutorKind = .local) {
        self.profile = profile
        self.threads = threads
        self.executor = executor
    }

    public func run(job: Job, context: JobContext) throws -> JobResult {
        let manifestPath = context.workDirectory.appendingPathComponent(job.manifest).path
        do {
            let store = try Store.open(at: context.storeURL, create: true)
            var archive: String? = job.archive.map { context.workDirectory.appendingPathComponent($0).path }
            if archive == nil {
                guard let kept = try Chain.keptArchive(store: store, dataset: job.dataset) else {
                    return .failed(JobError(stage: "reprocess", message: "dataset \(job.dataset) has no archive kept in the store",
                                            hint: "drop the archive together with the manifest"))
                }
                archive = kept.path
            }
            var options = Chain.Options(profile: profile, threads: threads, logger: context.logger)
            options.shouldStop = { context.cancellation.isCancelled }
            options.codeVersion = FairgenVersion.code
            options.executor = try executor.make(store: context.storeURL)
            // A manifest with an `experiment:` block is a sweep: one version per level plus sweep.json/html.
            if try Manifest.load(path: manifestPath, requireArchive: false).experiment != nil {
                let sweep = try Experiment.run(manifestPath: manifestPath, archivePath: archive, store: store, options: options) {
                    context.logger.notice("\($0)")
                }
                return .succeeded(summary: "experiment \(sweep.experiment): \(sweep.levels.count) levels, "
                                  + sweep.levels.map { Store.versionName($0.chain.version) }.joined(separator: ", "))
            }
            let result = try Chain.run(manifestPath: manifestPath, archivePath: archive, store: store, options: options)
            let alpha = result.metrics.selectedAlpha.map { String(format: "α=%.2f", $0) } ?? "no α"
            return .succeeded(summary: "\(Store.versionName(result.version)), \(alpha), \(result.ranStages.count) stages ran, \(result.cachedStages.count) reused")
        } catch is StageInterrupted {
            return .interrupted
        } catch let e as DaemonError where executor == .slurm {
            return .failed(JobError(stage: "slurm", message: e.message))
        } catch let e as SlurmJobFailure {
            return .failed(JobError(stage: e.stage, message: e.description, hint: "read the job's log; fix and drop again", log: e.log))
        } catch let e as DatasetError {
            return .failed(JobError(stage: "ingest", message: e.description))
        } catch let e as PipelineError {
            let stage = e.message.hasPrefix("stage ") ? String(e.message.dropFirst(6).prefix { $0 != " " }) : "pipeline"
            return .failed(JobError(stage: stage, message: e.message))
        }
    }
}

/// Where a chain's stages run (`--executor`).
public enum ExecutorKind: String, Sendable, CaseIterable {
    /// In this process.
    case local
    /// As Slurm jobs on a cluster sharing the store (docs/cluster.md).
    case slurm

    /// The executor for a chain run on the store at `store` (nil: local). Reads `STORE/config/slurm.yaml`.
    public func make(store: URL) throws -> (any ChainExecutor)? {
        switch self {
        case .local: return nil
        case .slurm: return SlurmExecutor(config: try SlurmConfig.load(store: store))
        }
    }
}
