import Foundation
import Text
import Yams

/// The Slurm executor's settings: `STORE/config/slurm.yaml` (docs/cluster.md). Every key is optional;
/// a missing file means Slurm's own defaults (the partition, account and limits of the cluster).
///
/// ```yaml
/// partition: compute
/// account: proj42
/// cpus: 8            # --cpus-per-task (default: the run's --threads)
/// memory: 32G        # --mem
/// time: "12:00:00"   # --time
/// max_resubmits: 3   # per stage, after node failure, preemption or scancel
/// poll_seconds: 10   # how often squeue is asked
/// fairgen: /shared/bin/fairgen   # the binary jobs run (default: the coordinator's own)
/// setup: |           # shell lines run by every job before fairgen
///   module load openblas
/// sbatch_args: ["--qos=normal"]
/// stages:            # per-stage overrides of partition/account/cpus/memory/time
///   train-ddpm: {partition: long, time: "2-00:00:00", memory: 64G}
///   classify: {cpus: 4}
/// ```
public struct SlurmConfig: Sendable, Equatable {
    /// Resources of one job; nil leaves the choice to Slurm (or to the top-level value).
    public struct Resources: Sendable, Equatable {
        public var partition: String?
        public var account: String?
        public var cpus: Int?
        public var memory: String?
        public var time: String?

        public init(partition: String? = nil, account: String? = nil, cpus: Int? = nil, memory: String? = nil, time: String? = nil) {
            self.partition = partition; self.account = account; self.cpus = cpus; self.memory = memory; self.time = time
        }

        /// `self` with `override`'s set fields taking precedence.
        func merged(with override: Resources?) -> Resources {
            guard let o = override else { return self }
            return Resources(partition: o.partition ?? partition, account: o.account ?? account, cpus: o.cpus ?? cpus,
                             memory: o.memory ?? memory, time: o.time ?? time)
        }
    }

    public var defaults = Resources()
    /// Overrides by stage group: `ingest`, `train-ddpm`, `train-upsampler`, `classify`, `fair-sample`, `evaluate`.
    public var stages: [String: Resources] = [:]
    public var maxResubmits = 3
    public var pollSeconds: Double = 10
    public var fairgen: String?
    public var setup: String = ""
    public var sbatchArgs: [String] = []

    public init() {}

    /// The stage groups `stages:` may name.
    public static let stageGroups = ["ingest", "train-ddpm", "train-upsampler", "classify", "fair-sample", "evaluate"]
    static let topKeys = ["partition", "account", "cpus", "memory", "time", "max_resubmits", "poll_seconds", "fairgen",
                          "setup", "sbatch_args", "stages"]
    static let resourceKeys = ["partition", "account", "cpus", "memory", "time"]

    /// Resources for a stage group.
    public func resources(for group: String) -> Resources { defaults.merged(with: stages[group]) }

    /// `STORE/config/slurm.yaml`.
    public static func path(store: URL) -> URL { store.appendingPathComponent("config/slurm.yaml") }

    /// Reads the store's file; a missing file gives the defaults.
    public static func load(store: URL) throws -> SlurmConfig {
        let file = path(store: store)
        guard let data = FileManager.default.contents(atPath: file.path) else { return SlurmConfig() }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DaemonError("\(file.path): not UTF-8 text; expected a YAML mapping of Slurm settings (docs/cluster.md)")
        }
        return try parse(text, file: file.path)
    }

    /// Parses and validates the YAML text; errors name `file`, the key and what was expected.
    public static func parse(_ text: String, file: String) throws -> SlurmConfig {
        guard text.utf8.count <= 64 << 10 else { throw DaemonError("\(file): larger than 64 KiB; expected a short YAML mapping") }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw DaemonError("\(file): not valid YAML; expected a mapping of Slurm settings (docs/cluster.md)")
        }
        var config = SlurmConfig()
        guard let root else { return config }
        guard let map = root.mapping else { throw DaemonError("\(file): expected a YAML mapping of Slurm settings at the top") }
        for (keyNode, value) in map {
            guard let key = keyNode.string else { throw DaemonError("\(file): keys must be plain strings") }
            let field = UntrustedText.terminal(key)
            switch key {
            case "max_resubmits":
                guard let n = int(value), (0...100).contains(n) else { throw bad(file, field, "an integer 0…100") }
                config.maxResubmits = n
            case "poll_seconds":
                guard let s = value.scalar.flatMap({ Double($0.string) }), s >= 0.2, s <= 3600 else {
                    throw bad(file, field, "a number of seconds between 0.2 and 3600")
                }
                config.pollSeconds = s
            case "fairgen":
                guard let s = value.string, s.hasPrefix("/") else { throw bad(file, field, "an absolute path to the fairgen binary") }
                config.fairgen = s
            case "setup":
                guard let s = value.string else { throw bad(file, field, "shell lines as a string (use `|` for several)") }
                config.setup = s
            case "sbatch_args":
                let items = value.sequence.map(Array.init) ?? []
                let args = items.compactMap(\.string)
                guard value.sequence != nil, args.count == items.count, args.allSatisfy({ $0.hasPrefix("--") && !$0.contains("\n") }) else {
                    throw bad(file, field, "a list of sbatch options, each starting with --")
                }
                config.sbatchArgs = args
            case "stages":
                guard let stages = value.mapping else { throw bad(file, field, "a mapping from stage group to resources") }
                for (nameNode, resources) in stages {
                    guard let name = nameNode.string, stageGroups.contains(name) else {
                        throw DaemonError("\(file): stages.\(UntrustedText.terminal(nameNode.string ?? "?")): unknown stage group; "
                                          + "expected one of \(stageGroups.joined(separator: ", "))")
                    }
                    guard let m = resources.mapping else { throw bad(file, "stages.\(name)", "a mapping of \(resourceKeys.joined(separator: ", "))") }
                    var r = Resources()
                    for (k, v) in m {
                        let rk = k.string ?? "?"
                        guard resourceKeys.contains(rk) else {
                            throw DaemonError("\(file): stages.\(name).\(UntrustedText.terminal(rk)): unknown key; expected one of \(resourceKeys.joined(separator: ", "))")
                        }
                        try setResource(&r, key: rk, value: v, file: file, field: "stages.\(name).\(rk)")
                    }
                    config.stages[name] = r
                }
            default:
                if resourceKeys.contains(key) {
                    try setResource(&config.defaults, key: key, value: value, file: file, field: field)
                } else {
                    throw DaemonError("\(file): \(field): unknown key; expected one of \(topKeys.joined(separator: ", "))")
                }
            }
        }
        return config
    }

    static func setResource(_ r: inout Resources, key: String, value: Node, file: String, field: String) throws {
        switch key {
        case "partition", "account":
            guard let s = value.string, isSlurmName(s) else { throw bad(file, field, "a Slurm name (letters, digits, . _ -)") }
            if key == "partition" { r.partition = s } else { r.account = s }
        case "cpus":
            guard let n = int(value), (1...4096).contains(n) else { throw bad(file, field, "an integer 1…4096") }
            r.cpus = n
        case "memory":
            guard let s = value.string, isMemory(s) else { throw bad(file, field, "a size such as 4000, 16G or 512M (sbatch --mem)") }
            r.memory = s
        case "time":
            guard let s = value.string, isTimeLimit(s) else {
                throw bad(file, field, "a Slurm time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")
            }
            r.time = s
        default: break
        }
    }

    static func bad(_ file: String, _ field: String, _ expected: String) -> DaemonError {
        DaemonError("\(file): \(field): expected \(expected)")
    }

    static func int(_ node: Node) -> Int? { node.scalar.flatMap { Int($0.string) } }

    static func isSlurmName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    static func isMemory(_ s: String) -> Bool {
        var digits = Substring(s)
        if let last = s.last, "KMGTkmgt".contains(last) { digits = s.dropLast() }
        return !digits.isEmpty && digits.count <= 9 && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber) && Int(digits)! > 0
    }

    /// Slurm's time formats (sbatch --time).
    static func isTimeLimit(_ s: String) -> Bool {
        func numbers(_ t: Substring) -> [Int]? {
            let parts = t.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...3).contains(parts.count) else { return nil }
            let values = parts.map { p in p.count <= 4 && p.allSatisfy { $0.isASCII && $0.isNumber } && !p.isEmpty ? Int(p) : nil }
            return values.contains(nil) ? nil : values.map { $0! }
        }
        if let dash = s.firstIndex(of: "-") {
            guard let days = numbers(s[..<dash]), days.count == 1, let rest = numbers(s[s.index(after: dash)...]) else { return false }
            return rest.count >= 1 && rest[0] < 24 && rest.dropFirst().allSatisfy { $0 < 60 }
        }
        guard let parts = numbers(Substring(s)) else { return false }
        return parts.count == 1 || parts.dropFirst().allSatisfy { $0 < 60 }
    }
}
