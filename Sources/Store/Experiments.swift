import Foundation

/// Experiment results: `datasets/NAME/experiments/<id>/` holding `sweep.json` and `sweep.html`
/// (docs/store.md). Unlike a version folder these files are rewritten when the sweep runs again; each
/// write is atomic (temp file in `tmp/`, fsync, rename), so a reader sees the old file or the new one.
extension Store {
    func experimentsPath(_ dataset: String) -> String { datasetPath(dataset) + "/experiments" }

    /// The folder of one experiment's results.
    public func experimentDirectory(dataset: String, experiment: String) -> URL {
        URL(fileURLWithPath: experimentsPath(dataset) + "/" + experiment)
    }

    /// Writes `name` into the experiment's folder atomically (creating the folder); returns the folder.
    @discardableResult
    public func writeExperimentFile(dataset: String, experiment: String, name: String, bytes: [UInt8]) throws -> URL {
        try Store.validateDatasetName(dataset)
        // The id follows the dataset-name rule (checked by the manifest), so it is one safe path component.
        try Store.validateDatasetName(experiment)
        let directory = experimentsPath(dataset) + "/" + experiment
        try FileIO.makeDirectories(directory)
        try FileIO.atomicWrite(bytes, to: directory + "/" + name, tmpDirectory: tmpPath)
        return URL(fileURLWithPath: directory)
    }

    /// Experiment ids of a dataset that have a `sweep.json`, sorted.
    public func experiments(of dataset: String) throws -> [String] {
        try Store.validateDatasetName(dataset)
        let path = experimentsPath(dataset)
        guard FileIO.isDirectory(path) else { return [] }
        return try FileIO.list(path).filter { FileIO.exists(path + "/" + $0 + "/sweep.json") }.sorted()
    }
}
