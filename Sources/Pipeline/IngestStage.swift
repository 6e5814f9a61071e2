import Datasets
import Foundation
import Store

/// The `ingest` stage: validates a drop and stores its dataset object (docs/dataset-object.md).
/// Its key hashes the manifest's and the archive's bytes (not store objects), the limits and the
/// resolutions; `fairgen ingest` files its object under the same key, so either one reuses the other's work.
public enum IngestStage {
    /// Bumped when ingest's output for the same inputs changes (decode, resize or object format).
    /// ingest-3: multi-label blank cells follow `label.blank` (radiology: negative) and `-1` cells keep 0.5.
    public static let codeVersion = "ingest-3/dataset-object-\(DatasetObject.version)"

    /// The settings that shape ingest's output, hashed into its stage key.
    public static func configSlice(limits: IngestLimits, resolutions: [Int]) -> JSONValue {
        let a = limits.archive
        return .object([
            "resolutions": .array(resolutions.map { .number(Double($0)) }),
            "max_image_side": .number(Double(limits.maxImageSide)),
            "max_decoded_bytes": .number(Double(limits.maxDecodedBytes)),
            "max_resized_bytes": .number(Double(limits.maxResizedBytes)),
            "max_entries": .number(Double(a.maxEntries)),
            "max_total_bytes": .number(Double(a.maxTotalBytes)),
            "max_entry_bytes": .number(Double(a.maxEntryBytes)),
            "max_ratio": .number(a.maxRatio),
            "ratio_threshold": .number(Double(a.ratioThreshold)),
        ])
    }

    /// The stage for the drop `manifestPath` (already parsed as `manifest`). Its single output is the
    /// dataset object, named `object` like `fairgen ingest`'s record.
    /// `archivePath` defaults to the manifest's `archive:` beside it.
    public static func stage(manifestPath: String, manifest: Manifest, archivePath: String? = nil,
                             limits: IngestLimits = IngestLimits()) throws -> Stage {
        let archive = archivePath ?? Manifest.archivePath(manifestPath: manifestPath, archive: manifest.archive)
        let resolutions = manifest.resolutions
        let inputs = [try Digests.sha256(fileAt: manifestPath).id.hex, try Digests.sha256(fileAt: archive).id.hex]
        return Stage(name: "ingest", codeVersion: codeVersion, config: configSlice(limits: limits, resolutions: resolutions),
                     keyInputs: inputs) { _ in
            let dataset = try datasetObject(manifest: manifest, archivePath: archive, limits: limits)
            return [Store.singleOutputName: .bytes(dataset.encode())]
        }
    }

    /// Ingests the drop. The object keeps the manifest's description of the data (name, modality, table,
    /// labels, attributes, high-risk classes, resolutions) but not its other `pipeline:` knobs: a drop
    /// whose manifest changes only a training knob then yields the very same object, so every stage
    /// upstream of that knob keeps its key and is reused.
    public static func datasetObject(manifest: Manifest, archivePath: String, limits: IngestLimits) throws -> IngestedDataset {
        var dataset = try ingestArchive(manifest: manifest, archivePath: archivePath, limits: limits,
                                        resolutions: manifest.resolutions)
        dataset.manifest.pipeline = PipelineConfig(baseResolution: manifest.pipeline.baseResolution,
                                                   finalResolution: manifest.pipeline.finalResolution)
        // An experiment describes runs, not data: a sweep's drop gives the same object as the plain drop.
        dataset.manifest.experiment = nil
        return dataset
    }
}
