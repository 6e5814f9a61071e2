import ArgumentParser
import Datasets
import Foundation
import Pipeline
import Store

/// `fairgen ingest MANIFEST`: validate a drop, store its dataset object, print the object id.
/// `fairgen ingest --dry-run MANIFEST [ARCHIVE]`: the same checks, a summary, nothing written.
/// The object is filed under the "ingest" stage key (manifest bytes + archive bytes + limits +
/// resolutions), so ingesting the same drop again prints the same id without decoding anything
/// (after re-hashing the stored object: a corrupt one is ingested again and replaced).
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Validate and ingest a drop; print the dataset object id."
    )

    static var codeVersion: String { IngestStage.codeVersion }

    @Argument(help: ArgumentHelp("The drop's manifest (YAML or JSON); its archive must sit beside it.", valueName: "manifest"))
    var manifest: String
    @Argument(help: ArgumentHelp("With --dry-run: the archive to check (default: the one the manifest names, beside it).",
                                 valueName: "archive"))
    var archive: String?
    /// Check the drop as ingest would — every rule, every image decoded — print a summary, write nothing.
    @Flag(name: .customLong("dry-run"), help: "Validate the manifest and archive fully, print a summary, write nothing (no store needed).")
    var dryRun = false
    @OptionGroup var location: StoreLocation

    func validate() throws {
        if archive != nil && !dryRun {
            throw ValidationError("an ARCHIVE argument is only accepted with --dry-run (ingest reads the archive beside the manifest)")
        }
    }

    func run() throws {
        do {
            if dryRun {
                let summary = try ingestDryRun(manifestPath: manifest, archivePath: archive)
                for line in summary.lines { print(line) }
            } else {
                try ingest()
            }
        } catch let error as DatasetError {
            throw CLIFailure.rejected(error.description)
        }
    }

    private func ingest() throws {
        // Validation first (names the file and key on failure; checks the archive sits beside it).
        let parsed = try Manifest.load(path: manifest)
        let archive = Manifest.archivePath(manifestPath: manifest, archive: parsed.archive)
        let limits = IngestLimits()
        let resolutions = parsed.resolutions

        let store = try location.open(create: true)
        let lock = try store.lockStore(.exclusive)
        defer { lock.unlock() }

        let manifestDigest = try Digests.sha256(fileAt: manifest).id
        let archiveDigest = try Digests.sha256(fileAt: archive).id
        let key = try StageKey.compute(stage: "ingest", codeVersion: Self.codeVersion,
                                       config: Self.configSlice(limits: limits, resolutions: resolutions),
                                       inputs: [manifestDigest.hex, archiveDigest.hex])
        let cached = try store.lookupObject(stage: "ingest", key: key) { id in
            Console.error("warning: the stored dataset object \(id.hex) for this drop is corrupt; ingesting again to replace it")
        }
        if let cached {
            print(cached.hex)
            return
        }
        let dataset = try IngestStage.datasetObject(manifest: parsed, archivePath: archive, limits: limits)
        let id = try store.objects.put(dataset.encode())
        print(try store.record(stage: "ingest", key: key, object: id).hex)
    }

    static func configSlice(limits: IngestLimits, resolutions: [Int]) -> JSONValue {
        IngestStage.configSlice(limits: limits, resolutions: resolutions)
    }
}
