import ArgumentParser
import Foundation
import Store

/// `fairgen store ls|show|cat|verify|gc` — look into the store, check it, clean it.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Inspect, verify and clean the store.",
        subcommands: [List.self, Show.self, Cat.self, Verify.self, GC.self]
    )

    /// `store ls`: every dataset version with status, creation time and selected α.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List datasets and their versions.")
        @OptionGroup var location: StoreLocation

        func run() throws {
            let store = try location.open(create: false)
            let names = try store.datasetNames()
            if names.isEmpty {
                Console.out("no datasets in \(store.root.path)")
                return
            }
            var rows = [["DATASET", "VERSION", "STATUS", "CREATED", "ALPHA"]]
            for name in names {
                let latest = try store.latestVersion(of: name)
                for version in try store.versions(of: name) {
                    // Tolerate unreadable or partial runs: list them with what is known.
                    let record = try? store.runRecord(dataset: name, version: version)
                    let label = Store.versionName(version) + (version == latest ? " (latest)" : "")
                    rows.append([name, label, record?.status.rawValue ?? "unreadable",
                                 Console.time(record?.created), selectedAlpha(store, name, version)])
                }
            }
            print(Console.table(rows))
            var experiments = [["DATASET", "EXPERIMENT", "SWEEP"]]
            for name in names {
                for id in (try? store.experiments(of: name)) ?? [] {
                    experiments.append([name, id, store.experimentDirectory(dataset: name, experiment: id)
                        .appendingPathComponent("sweep.json").path])
                }
            }
            if experiments.count > 1 {
                print("")
                print(Console.table(experiments))
            }
        }

        /// `selected_alpha` from the run's metrics.json (§6), once the evaluation stage writes it.
        func selectedAlpha(_ store: Store, _ name: String, _ version: Int) -> String {
            let file = store.runDirectory(dataset: name, version: version).appendingPathComponent("metrics.json")
            guard let data = try? Data(contentsOf: file), let metrics = try? JSONValue.parse(Array(data)),
                  case .number(let alpha)? = metrics["selected_alpha"] else { return "-" }
            return String(format: "%.2f", alpha)
        }
    }

    /// `store show NAME[/vN]`: the run.json summary.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Summarise one run (default: the latest).")
        @Argument(help: ArgumentHelp("NAME, NAME/latest or NAME/vN.", valueName: "run"))
        var reference: String
        @OptionGroup var location: StoreLocation

        func run() throws {
            let store = try location.open(create: false)
            let (name, version) = try store.resolveRun(reference)
            let r = try store.runRecord(dataset: name, version: version)
            Console.out("\(name)/\(Store.versionName(version))  \(r.status.rawValue)")
            print("created   \(Console.time(r.created))")
            print("finished  \(Console.time(r.finished))")
            Console.out("code      \(r.codeVersion.isEmpty ? "-" : r.codeVersion)")
            if let error = r.error { Console.out("error     \(error)") }
            if r.stages.isEmpty {
                print("stages    none")
            } else {
                var rows = [["STAGE", "STATUS", "WALL_S", "PEAK_MB", "KEY", "OUTPUTS"]]
                let ordered = r.stages.sorted { ($0.value.started ?? .distantFuture, $0.key) < ($1.value.started ?? .distantFuture, $1.key) }
                for (stage, s) in ordered {
                    let outputs = s.outputs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.hex.prefix(12))" }
                    rows.append([stage, s.status.rawValue, s.wallSeconds.map { String(format: "%.1f", $0) } ?? "-",
                                 s.peakRSSMB.map { String(format: "%.0f", $0) } ?? "-",
                                 s.key.isEmpty ? "-" : String(s.key.prefix(12)), outputs.joined(separator: " ")])
                }
                print(Console.table(rows))
            }
            if !r.files.isEmpty {
                print("")
                print(Console.table([["FILE", "OBJECT"]] + r.files.sorted { $0.key < $1.key }.map { [$0.key, $0.value.hex] }))
            }
        }
    }

    /// `store cat OBJECT_ID|NAME/vN/path`: raw bytes to stdout.
    struct Cat: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cat", abstract: "Write an object or a run file to stdout.")
        @Argument(help: ArgumentHelp("An object id (64 hex digits) or NAME/vN/path (e.g. derm-demo/latest/run.json).", valueName: "ref"))
        var reference: String
        @OptionGroup var location: StoreLocation

        func run() throws {
            let store = try location.open(create: false)
            let file: URL
            if let id = ObjectID(reference) {
                guard store.objects.exists(id) else { throw CLIFailure.rejected("object \(id.hex) not found in store \(store.root.path)") }
                file = store.objects.path(for: id)
            } else {
                file = try store.resolveRunFile(reference)
            }
            guard let handle = FileHandle(forReadingAtPath: file.path) else {
                throw StoreError(.io, "cannot open \(file.path)")
            }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { Console.writeRaw(chunk) }
        }
    }

    /// `store verify [--repair]`: re-hash every object, check every reference; exit 1 naming what is wrong.
    /// Without `--repair` it only reads (the lock file is opened read-only), so it works on a read-only store.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify", abstract: "Re-hash every object and check every reference.")
        /// Fix what needs no recomputation (docs/store.md, "Integrity"), then verify.
        @Flag(help: "Delete corrupt objects and stale stage keys and relink run files, then verify (takes the store lock exclusively).")
        var repair = false
        @OptionGroup var location: StoreLocation

        func run() throws {
            let store = try location.open(create: false)
            let lock: StoreLock? = try repair ? store.lockStore(.exclusive) : store.lockStoreReadOnly()
            defer { lock?.unlock() }
            if repair {
                let fixed = try store.repair()
                for id in fixed.removedObjects { print("removed corrupt object \(id.hex)") }
                for path in fixed.removedKeys { print("removed stage key \(path) (unreadable or naming a missing object; the stage runs again)") }
                for path in fixed.relinked { print("relinked \(path)") }
                if fixed.isEmpty { print("nothing to repair") }
            }
            let report = try store.verify()
            let mib = String(format: "%.1f", Double(report.bytesChecked) / 1_048_576)
            let summary = "\(report.objectsChecked) objects (\(mib) MiB), \(report.referencesChecked) references"
            if report.ok {
                print("ok: \(summary)")
                return
            }
            for problem in report.problems { Console.error("store verify: \(problem)") }
            let hint = repair
                ? "; missing objects must be recomputed: re-run `fairgen ingest` or `fairgen reprocess` for the datasets named, then `fairgen store verify --repair` again"
                : "; `fairgen store verify --repair` fixes what needs no recomputation (docs/store.md)"
            throw CLIFailure.rejected("store verify: \(report.problems.count) problem(s) in \(summary) of \(store.root.path)" + hint)
        }
    }

    /// `store gc [--dry-run]`: remove objects nothing references, and stale temp files.
    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "gc", abstract: "Remove unreferenced objects and stale temp files.")
        @Flag(help: "List what would be removed without removing it.") var dryRun = false
        @OptionGroup var location: StoreLocation

        func run() throws {
            let store = try location.open(create: false)
            let lock = try store.lockStore(.exclusive)
            defer { lock.unlock() }
            let report = try store.gc(dryRun: dryRun)
            let verb = dryRun ? "would remove" : "removed"
            for id in report.removedObjects { print("\(verb) object \(id.hex)") }
            for path in report.removedTmp { Console.out("\(verb) temp file \(path)") }
            print("\(verb) \(report.removedObjects.count) objects (\(report.removedBytes) bytes) and \(report.removedTmp.count) temp files; kept \(report.keptObjects) objects")
        }
    }
}
