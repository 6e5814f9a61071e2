import Foundation
import Logging
import Pipeline
import Store
import Text

/// Runs a chain's stages as Slurm jobs on a cluster whose nodes share the store (docs/cluster.md).
///
/// - Each stage that is not in the run-cache becomes one `sbatch` job running `fairgen stage run`
///   (`StageJob`), with the resources of `STORE/config/slurm.yaml`. The classifiers are job arrays: one
///   for those trained on real data only (the baseline — whose seed 0 audits the generator — and the other
///   non-synthetic variants), one for the synthetic variants × seeds, which need fair-sample's shards.
/// - Ingest runs first (the other stages' keys need the dataset object, and the chain's checks run on it
///   before anything long is queued); the rest is queued at once with `--dependency=afterok:<ids>` and
///   `--kill-on-invalid-dep=yes`.
/// - The executor follows the jobs with `squeue` (`sacct` once a job has left slurmctld's memory).
///   A job that ended NODE_FAIL, PREEMPTED, BOOT_FAIL or CANCELLED (e.g. `scancel`) is resubmitted, up to
///   `max_resubmits` times per stage group, together with the dependents Slurm cancelled; training stages
///   resume from their checkpoint in `store/tmp/resume/`. Jobs also carry `--requeue`, so a cluster that
///   requeues on node failure itself keeps the job id. A job that FAILED (or hit its time or memory limit)
///   fails the run with its log path (`SlurmJobFailure`, written to error.json by the daemon).
public final class SlurmExecutor: ChainExecutor {
    public let name = "slurm"
    public let config: SlurmConfig
    /// The fairgen binary the jobs run (it must be reachable at this path on the compute nodes).
    public let fairgen: String

    public init(config: SlurmConfig, fairgen: String? = nil) {
        self.config = config
        self.fairgen = config.fairgen ?? fairgen ?? SlurmExecutor.currentExecutable()
    }

    /// This process's executable (jobs run the same build as the coordinator).
    public static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// One submission unit: one stage, or classifier tasks as an array.
    struct Group {
        var name: String
        /// The `stages:` key of slurm.yaml whose resources apply.
        var resources: String
        /// `fairgen stage run --stage` value.
        var stage: String
        /// Array task ids (variant index × seeds + seed); nil for a single job.
        var tasks: [Int]?
        var dependsOn: [Int]
        var toSubmit: Set<Int>
        /// task (0 for a single job) → the job id it currently runs under.
        var current: [Int: String] = [:]
        var done: Set<Int> = []
        var resubmits = 0
        var unknownPolls = 0

        init(name: String, resources: String, stage: String, tasks: [Int]?, dependsOn: [Int]) {
            self.name = name; self.resources = resources; self.stage = stage; self.tasks = tasks; self.dependsOn = dependsOn
            toSubmit = Set(tasks ?? [0])
        }

        var finished: Bool { toSubmit.isEmpty && current.isEmpty }
    }

    public func execute(_ e: ChainExecution) throws {
        let folder = try StageJob.prepare(e)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let ref = "\(e.run.dataset)/\(Store.versionName(e.run.version))"
        if (try? e.cachedPlan().outputs(.ingest)) == nil {
            var groups = [Group(name: "ingest", resources: "ingest", stage: "ingest", tasks: nil, dependsOn: [])]
            try follow(&groups, e, folder: folder, ref: ref)
        }
        try e.preflight()
        var groups = SlurmExecutor.groups(config: e.config, cached: e.cachedPlan())
        guard !groups.isEmpty else { return }
        e.logger.notice("\(e.run.dataset): submitting \(groups.count) Slurm job(s): \(groups.map(\.name).joined(separator: ", "))")
        try follow(&groups, e, folder: folder, ref: ref)
    }

    /// The jobs for the stages that are not in the run-cache, in dependency order.
    static func groups(config: ChainConfig, cached: ChainPlan) -> [Group] {
        let nodes = ChainPlan.nodes(config: config)
        let needed = nodes.filter { (try? cached.outputs($0)) == nil }
        let seeds = config.classify.seeds
        var groups: [Group] = []
        var groupOf: [ChainPlan.Node: Int] = [:]
        for node in needed {
            let name: String
            var task: Int? = nil
            switch node {
            case .classify(let v, let seed):
                name = config.variants[v].usesSynthetic ? "classify-synthetic" : "classify-real"
                task = v * seeds + seed
            default:
                name = ChainPlan.stageName(node, config: config)
            }
            let deps = ChainPlan.dependencies(of: node, config: config).compactMap { groupOf[$0] }
            if let task, let i = groups.firstIndex(where: { $0.name == name }) {
                groups[i].tasks!.append(task)
                groups[i].toSubmit.insert(task)
                groups[i].dependsOn = Array(Set(groups[i].dependsOn + deps)).sorted()
                groupOf[node] = i
                continue
            }
            groups.append(Group(name: name, resources: task == nil ? name : "classify", stage: task == nil ? name : "classify",
                                tasks: task.map { [$0] }, dependsOn: Array(Set(deps)).sorted()))
            groupOf[node] = groups.count - 1
        }
        return groups
    }

    /// Submits the groups (dependencies first) and follows them until all are done.
    func follow(_ groups: inout [Group], _ e: ChainExecution, folder: URL, ref: String) throws {
        while true {
            if e.shouldStop() {
                let ids = Set(groups.flatMap { $0.current.values })
                if !ids.isEmpty { _ = try? SlurmCommand.run("scancel", ids.sorted()) }
                throw StageInterrupted(stage: groups.first { !$0.finished }?.name ?? "slurm")
            }
            for i in groups.indices where !groups[i].toSubmit.isEmpty {
                guard groups[i].dependsOn.allSatisfy({ groups[$0].toSubmit.isEmpty }) else { continue }
                let deps = Set(groups[i].dependsOn.flatMap { groups[$0].current.values }).sorted()
                let tasks = groups[i].toSubmit.sorted()
                let id = try submit(groups[i], tasks: tasks, dependencies: deps, e, folder: folder, ref: ref)
                for t in tasks { groups[i].current[t] = id }
                groups[i].toSubmit = []
                let line = "\(ref): \(groups[i].name) submitted as Slurm job \(id)"
                    + (groups[i].tasks != nil ? " (array \(tasks.map(String.init).joined(separator: ",")))" : "")
                    + (deps.isEmpty ? "" : " after \(deps.joined(separator: ","))")
                e.logger.notice("\(line)")
                try appendJobLog(folder, "\(groups[i].name) \(id) tasks=\(tasks.map(String.init).joined(separator: ",")) after=\(deps.joined(separator: ","))")
            }
            if groups.allSatisfy(\.finished) { return }
            let states = SlurmCommand.states(of: Array(Set(groups.flatMap { $0.current.values })))
            for i in groups.indices {
                var lost = false
                for (task, id) in groups[i].current.sorted(by: { $0.key < $1.key }) {
                    let key = groups[i].tasks == nil ? id : "\(id)_\(task)"
                    guard let state = states[key] ?? states[id + "_*"] else {
                        lost = true
                        continue
                    }
                    switch SlurmCommand.classify(state) {
                    case .active:
                        continue
                    case .completed:
                        groups[i].done.insert(task)
                        groups[i].current[task] = nil
                    case .failed:
                        throw SlurmJobFailure(stage: stageName(groups[i], task: task, e), jobID: key, state: state,
                                              log: logPath(folder, groups[i], id: id, task: task))
                    case .retry:
                        groups[i].current[task] = nil
                        groups[i].toSubmit.insert(task)
                        // A dependent that Slurm cancelled because its dependency was cancelled lost no work.
                        let byDependency = groups[i].dependsOn.contains { !groups[$0].finished || !groups[$0].toSubmit.isEmpty }
                        if !byDependency {
                            groups[i].resubmits += 1
                            let log = logPath(folder, groups[i], id: id, task: task)
                            guard groups[i].resubmits <= config.maxResubmits else {
                                throw SlurmJobFailure(stage: stageName(groups[i], task: task, e), jobID: key,
                                                      state: "\(state) (after \(config.maxResubmits) resubmissions)", log: log)
                            }
                            let line = "\(ref): Slurm job \(key) (\(stageName(groups[i], task: task, e))) ended \(state); "
                                + "resubmitting (\(groups[i].resubmits)/\(config.maxResubmits)); its training resumes from its checkpoint"
                            e.logger.notice("\(line)")
                        }
                    }
                }
                groups[i].unknownPolls = lost ? groups[i].unknownPolls + 1 : 0
                if groups[i].unknownPolls >= 5 {
                    throw DaemonError("\(ref): Slurm no longer knows job(s) \(Set(groups[i].current.values).sorted().joined(separator: ",")) "
                                      + "of \(groups[i].name) (not in squeue, and sacct has no record)")
                }
            }
            if groups.allSatisfy(\.finished) { return }
            let deadline = Date().addingTimeInterval(config.pollSeconds)
            while Date() < deadline, !e.shouldStop() { usleep(100_000) }
        }
    }

    /// The stage name a task runs (for messages).
    func stageName(_ group: Group, task: Int, _ e: ChainExecution) -> String {
        guard group.tasks != nil else { return group.stage }
        let seeds = max(1, e.config.classify.seeds)
        return ChainPlan.stageName(.classify(variant: task / seeds, seed: task % seeds), config: e.config)
    }

    func logPath(_ folder: URL, _ group: Group, id: String, task: Int) -> String {
        folder.appendingPathComponent("logs").appendingPathComponent(group.tasks == nil ? "\(group.name)-\(id).out"
                                                                                         : "\(group.name)-\(id)_\(task).out").path
    }

    /// Writes the group's job script and submits it; returns the job id.
    func submit(_ group: Group, tasks: [Int], dependencies: [String], _ e: ChainExecution, folder: URL, ref: String) throws -> String {
        let r = config.resources(for: group.resources)
        var command = [fairgen, "stage", "run", "--store", e.store.root.path, "--run", ref, "--stage", group.stage]
            .map(SlurmCommand.shellQuote)
        if group.tasks != nil { command += ["--task", "\"$SLURM_ARRAY_TASK_ID\""] }
        let script = """
            #!/bin/sh
            # A fairgen stage job, written by the Slurm executor (docs/cluster.md).
            \(config.setup)
            exec \(command.joined(separator: " "))

            """
        let scripts = folder.appendingPathComponent("scripts")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        let scriptURL = scripts.appendingPathComponent("\(group.name).sh")
        try Data(script.utf8).write(to: scriptURL, options: .atomic)
        var args = ["--parsable", "--job-name=fairgen-\(e.run.dataset)-\(group.name)",
                    "--output=" + folder.appendingPathComponent("logs").path + "/\(group.name)-" + (group.tasks == nil ? "%j" : "%A_%a") + ".out",
                    "--requeue", "--kill-on-invalid-dep=yes", "--cpus-per-task=\(r.cpus ?? e.threads)"]
        if let p = r.partition { args.append("--partition=\(p)") }
        if let a = r.account { args.append("--account=\(a)") }
        if let m = r.memory { args.append("--mem=\(m)") }
        if let t = r.time { args.append("--time=\(t)") }
        if group.tasks != nil { args.append("--array=" + tasks.map(String.init).joined(separator: ",")) }
        if !dependencies.isEmpty { args.append("--dependency=afterok:" + dependencies.joined(separator: ":")) }
        args += config.sbatchArgs
        args.append(scriptURL.path)
        let result = try SlurmCommand.run("sbatch", args)
        guard result.status == 0 else {
            throw DaemonError("sbatch refused \(group.name) for \(ref): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)) "
                              + "(check \(SlurmConfig.path(store: e.store.root).path))")
        }
        let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw DaemonError("sbatch gave no job id for \(group.name) (output: \(result.stdout.prefix(200)))")
        }
        return id
    }

    func appendJobLog(_ folder: URL, _ line: String) throws {
        let path = folder.appendingPathComponent("jobs.log").path
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((ISO8601DateFormatter().string(from: Date()) + " " + line + "\n").utf8))
    }
}

/// A stage job that failed for good: its stage, job id, final state and log file (the daemon writes the
/// log path into error.json).
public struct SlurmJobFailure: Error, CustomStringConvertible, Sendable {
    public let stage: String
    public let jobID: String
    public let state: String
    public let log: String
    public var description: String {
        "stage \(stage): Slurm job \(jobID) ended \(UntrustedText.terminal(state)); see its log \(log)"
    }
}

/// The Slurm command-line tools, and the parsing of their output.
enum SlurmCommand {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Runs `tool` (found on PATH) and captures its output.
    static func run(_ tool: String, _ args: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + args
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            throw DaemonError("cannot run \(tool): \(error) (is Slurm's client installed and on PATH?)")
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `'text'` for /bin/sh.
    static func shellQuote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    enum Kind { case active, completed, failed, retry }

    /// What a job state means for the executor.
    static func classify(_ state: String) -> Kind {
        switch state.split(separator: " ").first.map(String.init) ?? state {
        case "COMPLETED": return .completed
        case "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "CANCELLED": return .retry
        case "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "DEADLINE", "REVOKED", "SPECIAL_EXIT": return .failed
        default: return .active       // PENDING, RUNNING, COMPLETING, CONFIGURING, REQUEUED, SUSPENDED, …
        }
    }

    /// States of jobs and array tasks: `squeue` (which keeps finished jobs for MinJobAge), then `sacct`
    /// for ids squeue no longer knows. Keys are `ID` or `ID_TASK`; an array's tasks that Slurm lists
    /// unexpanded (`ID_[4-7]`, e.g. still pending) give `ID_*`.
    static func states(of ids: [String]) -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        var states: [String: String] = [:]
        for id in ids.sorted() {
            // One id per call: squeue fails the whole query when one id has left its memory.
            if let r = try? run("squeue", ["-h", "-t", "all", "-r", "-j", id, "-o", "%i|%T"]), r.status == 0 {
                states.merge(parseStates(r.stdout)) { _, new in new }
            }
            if !states.keys.contains(where: { $0 == id || $0.hasPrefix(id + "_") }),
               let r = try? run("sacct", ["-n", "-X", "-P", "-j", id, "-o", "JobID,State"]), r.status == 0 {
                states.merge(parseStates(r.stdout)) { _, new in new }
            }
        }
        return states
    }

    /// Parses `ID|STATE` lines (squeue `-o %i|%T`, sacct `-P -o JobID,State`).
    static func parseStates(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count >= 2, !parts[0].isEmpty else { continue }
            var id = parts[0]
            if let bracket = id.firstIndex(of: "[") { id = String(id[..<bracket]) + "*" }
            out[id] = parts[1]
        }
        return out
    }
}
