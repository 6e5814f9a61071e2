import Foundation
import Testing
@testable import Pipeline
import Store

/// Issue 12: a cache hit used to check only that the output objects exist, so a flipped byte was
/// handed to every later stage. Now a corrupt output makes the stage run again, which replaces it.
@Test func cacheHitOnACorruptOutputRerunsTheStageAndRepairsTheObject() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    var runs = 0
    func stage() -> Stage {
        Stage(name: "make", codeVersion: "1", config: .object([:])) { _ in
            runs += 1
            return ["object": .bytes(Array("deterministic output".utf8))]
        }
    }
    let runner = StageRunner(store: tmp.store, run: nil)
    let id = try #require(try runner.run(stage())["object"])
    #expect(try runner.run(stage())["object"] == id)
    #expect(runs == 1, "second run is a cache hit")

    let file = tmp.store.objects.path(for: id).path
    chmod(file, 0o644)
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
    bytes[3] ^= 0x04
    try Data(bytes).write(to: URL(fileURLWithPath: file))
    #expect(throws: StoreError.self) { try tmp.store.objects.read(id) }

    #expect(try runner.run(stage())["object"] == id)
    #expect(runs == 2, "the corrupt cached output is recomputed, not reused")
    #expect(try tmp.store.objects.read(id) == Array("deterministic output".utf8))
    #expect(try runner.run(stage())["object"] == id)
    #expect(runs == 2, "and cached again afterwards")
}
