import Foundation
import Logging
import Store
import Tensors
import Testing
@testable import Datasets
@testable import Pipeline

/// run.json records the OpenBLAS kernel, its selection, the CPU and the thread count of the process that
/// created the run, and of the one that last resumed it.
@Suite struct ChainRunRecordTests {
    @Test func newAndResumedRunsRecordTheBLASFacts() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-chain-blas-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try Store.open(at: url, create: true)
        let manifest = try Manifest.parse(text: ChainConfigTests.manifestText, file: "derm.yaml")
        let config = ChainConfig.resolve(manifest: manifest, profile: .quick, threads: 2)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        // Pinned thread count: other suites change it while they run.
        try ThreadScope.with(threads: 2) {
            let run = try Chain.openOrCreateRun(store: store, manifest: manifest, config: config, request: "r1",
                                                codeVersion: "test", logger: logger)
            let here = BLASInfo.current()
            #expect(here.threads == 2)
            #expect(try store.runRecord(dataset: manifest.name, version: run.version).blas == here)

            // A run resumed by a process with other facts gets the new ones.
            try run.update { $0.blas = BLASInfo(kernel: "Prescott", selection: "openblas", cpu: "elsewhere", threads: 1) }
            let resumed = try Chain.openOrCreateRun(store: store, manifest: manifest, config: config, request: "r1",
                                                    codeVersion: "test", logger: logger)
            #expect(resumed.version == run.version)
            #expect(try store.runRecord(dataset: manifest.name, version: run.version).blas == here)
        }
    }
}
