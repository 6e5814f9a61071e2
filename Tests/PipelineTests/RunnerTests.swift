import Foundation
import Testing
@testable import Pipeline
import Store

/// A fresh store in a temp folder.
struct PipelineTempStore {
    let url: URL
    let store: Store
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-pipeline-test-\(UUID().uuidString)")
        store = try Store.open(at: url, create: true)
    }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Three fake stages A → B → C; each counts its executions and checks run.json parses mid-stage.
final class FakeChain {
    var executions: [String: Int] = [:]
    var runJSONPath: String?

    func note(_ name: String) throws {
        executions[name, default: 0] += 1
        if let path = runJSONPath {
            // run.json must be valid JSON while the stage runs, and show this stage as running.
            let record = try RunRecord.decode(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            #expect(record.stages[name]?.status == .running)
        }
    }

    func run(_ runner: StageRunner, configB: Int) throws -> [String: ObjectID] {
        let a = try runner.run(Stage(name: "a", codeVersion: "1", config: .object(["n": .number(3)])) { ctx in
            try self.note("a")
            for s in 1...3 { ctx.progress(step: s, total: 3, loss: 1 / Double(s)) }
            return ["object": .bytes(Array("alpha".utf8))]
        })
        let b = try runner.run(Stage(name: "b", codeVersion: "1", config: .object(["k": .number(Double(configB))]),
                                     inputs: ["src": a["object"]!]) { ctx in
            try self.note("b")
            var k = 0
            if case .number(let d)? = ctx.config["k"] { k = Int(d) }
            let file = ctx.scratch.appendingPathComponent("b.bin")
            try Data(try ctx.readInput("src") + Array("+\(k)".utf8)).write(to: file)
            return ["object": .file(file)]
        })
        return try runner.run(Stage(name: "c", codeVersion: "1", config: .object([:]),
                                    inputs: ["src": b["object"]!]) { ctx in
            try self.note("c")
            return ["upper": .bytes(Array(String(decoding: try ctx.readInput("src"), as: UTF8.self).uppercased().utf8)),
                    "count": .bytes(Array("\(try ctx.readInput("src").count)".utf8))]
        })
    }
}

@Test func secondRunIsCachedAndOneConfigChangeRerunsDownstreamOnly() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    let chain = FakeChain()
    var events: [ProgressEvent] = []

    let run1 = try tmp.store.createRun(dataset: "demo")
    chain.runJSONPath = run1.directory.appendingPathComponent("run.json").path
    let out1 = try chain.run(StageRunner(store: tmp.store, run: run1, progressInterval: 0) { events.append($0) }, configB: 1)
    try run1.complete()
    #expect(chain.executions == ["a": 1, "b": 1, "c": 1])
    #expect(String(decoding: try tmp.store.objects.read(out1["upper"]!), as: UTF8.self) == "ALPHA+1")
    #expect(String(decoding: try tmp.store.objects.read(out1["count"]!), as: UTF8.self) == "7")
    var steps: [String] = []
    for case .step(_, let s, let t, _, _, _) in events { steps.append("\(s)/\(t)") }
    #expect(steps == ["1/3", "2/3", "3/3"])
    let keyA = try Stage(name: "a", codeVersion: "1", config: .object(["n": .number(3)])) { _ in [:] }.key().hex
    #expect(events.first == .stageStarted(stage: "a", key: keyA, cached: false))

    let record1 = try tmp.store.runRecord(dataset: "demo", version: 1)
    #expect(record1.stages.values.allSatisfy { $0.status == .complete && $0.wallSeconds != nil && ($0.peakRSSMB ?? 0) > 0 })
    #expect(record1.stages["c"]?.outputs == out1)
    #expect(record1.stages["b"]?.inputs.first?.hasPrefix("src=") == true)

    // Same inputs and config: every stage is skipped and reuses its outputs.
    let run2 = try tmp.store.createRun(dataset: "demo")
    chain.runJSONPath = nil
    events = []
    let out2 = try chain.run(StageRunner(store: tmp.store, run: run2, progressInterval: 0) { events.append($0) }, configB: 1)
    #expect(out2 == out1)
    #expect(chain.executions == ["a": 1, "b": 1, "c": 1])
    let record2 = try tmp.store.runRecord(dataset: "demo", version: 2)
    #expect(record2.stages.mapValues(\.status) == ["a": .cached, "b": .cached, "c": .cached])
    #expect(record2.stages["c"]?.key == record1.stages["c"]?.key)
    #expect(events.contains(.stageStarted(stage: "b", key: record1.stages["b"]!.key, cached: true)))

    // One knob of b changed: a is reused, b and its downstream c rerun.
    let run3 = try tmp.store.createRun(dataset: "demo")
    let out3 = try chain.run(StageRunner(store: tmp.store, run: run3), configB: 2)
    #expect(chain.executions == ["a": 1, "b": 2, "c": 2])
    #expect(String(decoding: try tmp.store.objects.read(out3["upper"]!), as: UTF8.self) == "ALPHA+2")
    let record3 = try tmp.store.runRecord(dataset: "demo", version: 3)
    #expect(record3.stages.mapValues(\.status) == ["a": .cached, "b": .complete, "c": .complete])
    #expect(record3.stages["b"]?.key != record1.stages["b"]?.key)
    // The scratch folders are gone.
    #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.url.appendingPathComponent("tmp").path)
        .filter { $0.hasPrefix("stage-") }.isEmpty)
}

@Test func failingStageMarksRunFailedWithMessage() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    let run = try tmp.store.createRun(dataset: "demo")
    let runner = StageRunner(store: tmp.store, run: run)
    struct Boom: Error, CustomStringConvertible { var description: String { "loss became NaN at step 17" } }
    var caught: PipelineError?
    do {
        try runner.run(Stage(name: "train-ddpm", codeVersion: "1", config: .null) { _ in throw Boom() })
    } catch let e as PipelineError { caught = e }
    #expect(caught?.message == "stage train-ddpm failed: loss became NaN at step 17")
    let record = try tmp.store.runRecord(dataset: "demo", version: 1)
    #expect(record.status == .failed)
    #expect(record.error == "stage train-ddpm failed: loss became NaN at step 17")
    #expect(record.stages["train-ddpm"]?.status == .failed)
    // A failed stage records no key, so the next attempt runs it again.
    var ran = false
    try runner.run(Stage(name: "train-ddpm", codeVersion: "1", config: .null) { _ in ran = true; return ["object": .bytes([1])] })
    #expect(ran)
}

@Test func progressIsRateLimitedButLastStepAlwaysReported() throws {
    let tmp = try PipelineTempStore()
    defer { tmp.remove() }
    var steps: [Int] = []
    let runner = StageRunner(store: tmp.store, run: nil, progressInterval: 3600) { event in
        if case .step(_, let s, _, _, let rate, let eta) = event { steps.append(s); #expect(rate > 0); #expect(eta >= 0) }
    }
    try runner.run(Stage(name: "long", codeVersion: "1", config: .object(["x": .bool(true)])) { ctx in
        for s in 1...100 { ctx.progress(step: s, total: 100) }
        return ["object": .bytes([7])]
    })
    #expect(steps == [1, 100])
    #expect(StageRunner.describe(.step(stage: "t", step: 5, total: 10, loss: 0.5, rate: 2, etaSeconds: 125))
        == "t: step 5/10 loss 0.5000 2.0 steps/s ETA 2m05s")
    #expect(StageRunner.formatDuration(.infinity) == "?")
}

@Test func stageKeyIgnoresConfigKeyOrderAndInputDictionaryOrder() throws {
    let id1 = Digests.sha256([1]), id2 = Digests.sha256([2])
    let s1 = Stage(name: "mix", codeVersion: "3", config: .object(["a": .number(1), "b": .number(0.5)]),
                   inputs: ["real": id1, "synthetic": id2]) { _ in [:] }
    let s2 = Stage(name: "mix", codeVersion: "3", config: .object(["b": .number(0.5), "a": .number(1.0)]),
                   inputs: ["synthetic": id2, "real": id1]) { _ in [:] }
    let swapped = Stage(name: "mix", codeVersion: "3", config: s1.config, inputs: ["real": id2, "synthetic": id1]) { _ in [:] }
    let bumped = Stage(name: "mix", codeVersion: "4", config: s1.config, inputs: s1.inputs) { _ in [:] }
    #expect(try s1.key() == s2.key())
    #expect(try s1.key() != swapped.key())
    #expect(try s1.key() != bumped.key())
}

@Test func explicitKeyInputsReproduceAPlainStageKey() throws {
    // `fairgen ingest` keys on [manifest digest, archive digest]; an ingest stage run by the pipeline
    // must hit the same key file.
    let manifest = Digests.sha256(Array("name: demo".utf8)).hex, archive = Digests.sha256([0x1f, 0x8b]).hex
    let config: JSONValue = .object(["resolutions": .array([.number(16), .number(32)])])
    let stage = Stage(name: "ingest", codeVersion: "1", config: config, keyInputs: [manifest, archive]) { _ in [:] }
    #expect(try stage.key() == StageKey.compute(stage: "ingest", codeVersion: "1", config: config, inputs: [manifest, archive]))
    #expect(stage.keyInputs == [manifest, archive])
}
