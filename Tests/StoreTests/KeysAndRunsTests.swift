import Foundation
import Testing
@testable import Store
import Tensors

@Suite struct CanonicalJSONTests {
    static let config: JSONValue = .object([
        "é": .string("q\"\n"),
        "b": .number(20000),
        "a": .array([.number(0.5), .string("x"), .bool(true), .null, .number(1e-5)]),
    ])

    @Test func knownInputGivesKnownKey() throws {
        let text = try StageKey.document(stage: "train-ddpm", codeVersion: "3", config: Self.config, inputs: ["in-1", "in-0"])
        #expect(text == #"{"code_version":"3","config":{"a":[0.5,"x",true,null,1e-05],"b":20000,"é":"q\"\n"},"inputs":["in-1","in-0"],"stage":"train-ddpm"}"#)
        // Reference: Python hashlib.sha256 of the line above, UTF-8 encoded.
        let key = try StageKey.compute(stage: "train-ddpm", codeVersion: "3", config: Self.config, inputs: ["in-1", "in-0"])
        #expect(key.hex == "bf99dfa2111147909da8974ddeb54c42c5e308b850fdad9d3bdfb754ef7b92e7")
    }

    @Test func keyIgnoresSpellingButNotMeaning() throws {
        let parsed = try JSONValue.parse(bytes(#"{ "a" : [5e-1, "x", true, null, 0.00001], "é": "q\"\n", "b": 2.0e4 }"#))
        let base = try StageKey.compute(stage: "s", codeVersion: "1", config: Self.config, inputs: ["i"])
        #expect(try StageKey.compute(stage: "s", codeVersion: "1", config: parsed, inputs: ["i"]) == base)
        // Every part of the key matters, including input order.
        #expect(try StageKey.compute(stage: "t", codeVersion: "1", config: Self.config, inputs: ["i"]) != base)
        #expect(try StageKey.compute(stage: "s", codeVersion: "2", config: Self.config, inputs: ["i"]) != base)
        #expect(try StageKey.compute(stage: "s", codeVersion: "1", config: .object([:]), inputs: ["i"]) != base)
        let ab = try StageKey.compute(stage: "s", codeVersion: "1", config: .null, inputs: ["a", "b"])
        #expect(try StageKey.compute(stage: "s", codeVersion: "1", config: .null, inputs: ["b", "a"]) != ab)
    }

    @Test func numbersAndStrings() throws {
        let cases: [(Double, String)] = [(1, "1"), (-0.0, "0"), (0.1, "0.1"), (-2.5, "-2.5"), (2e-4, "0.0002"),
                                         (1e-5, "1e-05"), (1e20, "1e+20"), (9007199254740993, "9007199254740992"), (123456789012345678901, "1.2345678901234568e+20")]
        for (value, text) in cases { #expect(try CanonicalJSON.encode(.number(value)) == text, "\(value)") }
        #expect(throws: StoreError.self) { try CanonicalJSON.encode(.number(.nan)) }
        #expect(throws: StoreError.self) { try CanonicalJSON.encode(.array([.number(.infinity)])) }
        #expect(try CanonicalJSON.encode(.string("tab\tbell\u{07}/")) == #""tab\tbell\u0007/""#)
        // Keys sort by UTF-8 bytes: uppercase before lowercase, "a" before "aa".
        #expect(try CanonicalJSON.encode(.object(["aa": .null, "B": .null, "a": .null])) == #"{"B":null,"a":null,"aa":null}"#)
    }

    @Test func encodableConfigsAndBooleans() throws {
        struct Slice: Encodable { var steps = 20000; var lr = 2e-4; var ema = true }
        #expect(try CanonicalJSON.encode(JSONValue.from(Slice())) == #"{"ema":true,"lr":0.0002,"steps":20000}"#)
        #expect(try JSONValue.parse(bytes("[1, true]")) == .array([.number(1), .bool(true)]))
    }
}

@Suite struct StageKeyStoreTests {
    @Test func recordAndLookup() throws {
        let t = try TempStore()
        defer { t.remove() }
        let key = try StageKey.compute(stage: "ingest", codeVersion: "1", config: .null, inputs: ["x"])
        #expect(try t.store.lookupObject(stage: "ingest", key: key) == nil)
        let id = try t.store.objects.put(bytes("dataset"))
        try t.store.record(stage: "ingest", key: key, object: id)
        #expect(try t.store.lookupObject(stage: "ingest", key: key) == id)
        #expect(try FileIO.readFile(t.path + "/keys/ingest/" + key.hex) == bytes(id.hex + "\n"))
        // First record wins: a second, different output for the same key is not written.
        let other = try t.store.objects.put(bytes("other"))
        #expect(try t.store.record(stage: "ingest", key: key, object: other) == id)
        #expect(try t.tmpEntries().isEmpty)

        let multiKey = try StageKey.compute(stage: "classify", codeVersion: "1", config: .null, inputs: [id.hex])
        try t.store.record(stage: "classify", key: multiKey, outputs: ["model": id, "log": other])
        #expect(try t.store.lookup(stage: "classify", key: multiKey) == ["model": id, "log": other])
        #expect(try t.store.lookupObject(stage: "classify", key: multiKey) == nil)
        // A key whose object is gone is a miss (the stage reruns).
        chmod(t.store.objects.filePath(other), 0o644)
        unlink(t.store.objects.filePath(other))
        #expect(try t.store.lookup(stage: "classify", key: multiKey) == nil)
        #expect(throws: StoreError.self) { try t.store.record(stage: "../x", key: key, object: id) }
    }
}

@Suite struct RunTests {
    @Test func latestPointsToNewestVersion() throws {
        let t = try TempStore()
        defer { t.remove() }
        for expected in 1...3 {
            let run = try t.store.createRun(dataset: "derm-demo", codeVersion: "test")
            #expect(run.version == expected)
            #expect(try t.store.latestVersion(of: "derm-demo") == expected)
        }
        #expect(try t.store.versions(of: "derm-demo") == [1, 2, 3])
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: t.path + "/datasets/derm-demo/latest")
        #expect(target == "v0003")
        // An older version never moves latest back.
        try t.store.setLatest(dataset: "derm-demo", version: 1)
        #expect(try t.store.latestVersion(of: "derm-demo") == 3)
        #expect(try t.tmpEntries().isEmpty)
        #expect(throws: StoreError.self) { try t.store.createRun(dataset: "../etc") }
        #expect(throws: StoreError.self) { try t.store.createRun(dataset: "Derm") }
    }

    @Test func runJSONRoundTrip() throws {
        let t = try TempStore()
        defer { t.remove() }
        let manifest = try JSONValue.parse(bytes(#"{"name":"derm-demo","pipeline":{"base_resolution":32}}"#))
        let blas = BLASInfo(kernel: "SkylakeX", selection: "auto (OpenBLAS chose Prescott)", cpu: "Test CPU", threads: 2)
        let run = try t.store.createRun(dataset: "derm-demo", codeVersion: "abc123", manifest: manifest,
                                        config: .object(["seed": .number(7)]), blas: blas)
        let out = try t.store.objects.put(bytes("checkpoint"))
        let key = try StageKey.compute(stage: "train-ddpm", codeVersion: "1", config: .null, inputs: ["in"])
        try run.stageStarted("train-ddpm", key: key, inputs: ["in"])
        try run.stageFinished("train-ddpm", outputs: ["checkpoint": out], status: .complete, wallSeconds: 1.25)
        try run.link(out, as: "checkpoints/ddpm.safetensors")
        let fromDisk = try t.store.runRecord(dataset: "derm-demo", version: 1)
        #expect(fromDisk == run.record)
        #expect(fromDisk.manifest["pipeline"]?["base_resolution"] == .number(32))
        #expect(fromDisk.stages["train-ddpm"]?.wallSeconds == 1.25)
        #expect(fromDisk.stages["train-ddpm"]?.peakRSSMB ?? 0 > 0)
        #expect(fromDisk.files == ["checkpoints/ddpm.safetensors": out])
        #expect(fromDisk.status == .running)
        #expect(fromDisk.blas == blas)
        // The file on disk uses the documented snake_case keys.
        let text = String(decoding: try FileIO.readFile(t.path + "/datasets/derm-demo/v0001/run.json"), as: UTF8.self)
        for field in ["\"code_version\"", "\"wall_seconds\"", "\"peak_rss_mb\"", "\"status\" : \"running\"",
                      "\"blas\"", "\"kernel\" : \"SkylakeX\"", "\"cpu\" : \"Test CPU\"", "\"threads\" : 2"] {
            #expect(text.contains(field), "run.json lacks \(field)")
        }

        try run.complete()
        #expect(try t.store.runRecord(dataset: "derm-demo", version: 1).status == .complete)
        #expect { try run.update { $0.error = "late" } } throws: { ($0 as? StoreError)?.kind == .immutable }
        #expect(throws: StoreError.self) { try run.link(out, as: "other.bin") }
        #expect(try t.tmpEntries().isEmpty)
    }

    @Test func lenientDecodeOfPartialRecord() throws {
        let record = try RunRecord.decode(bytes(#"{"dataset":"old","version":2,"stages":{"ingest":{"key":"k"}}}"#))
        #expect(record.dataset == "old" && record.version == 2 && record.status == .running)
        #expect(record.stages["ingest"]?.status == .pending)
        #expect(record.blas == nil)
    }

    @Test func linksAreHardOrSymbolicAndValidated() throws {
        for style in [Store.LinkStyle.hardLink, .symbolicLink] {
            let t = try TempStore(linkStyle: style)
            defer { t.remove() }
            let run = try t.store.createRun(dataset: "x")
            let id = try run.put(bytes("{\"schema\":1}"), as: "metrics.json")
            let shard = try t.store.objects.put(bytes("tar bytes"))
            try run.link(shard, as: "synthetic/shard-00000.tar")
            try run.link(shard, as: "synthetic/shard-00000.tar")  // same object again: no-op
            let file = t.path + "/datasets/x/v0001/synthetic/shard-00000.tar"
            #expect(try FileIO.readFile(file) == bytes("tar bytes"))
            #expect(try FileIO.readFile(t.path + "/datasets/x/v0001/metrics.json") == bytes("{\"schema\":1}"))
            let st = FileIO.lstat(file)!
            if style == .hardLink {
                #expect(st.st_ino == FileIO.lstat(t.store.objects.filePath(shard))!.st_ino)
            } else {
                #expect(st.st_mode & S_IFMT == S_IFLNK)
            }
            #expect { try run.link(id, as: "synthetic/shard-00000.tar") } throws: { ($0 as? StoreError)?.kind == .immutable }
            for bad in ["../escape", "/abs", "a//b", "run.json", "a/./b", ""] {
                #expect(throws: StoreError.self, "\(bad)") { try run.link(id, as: bad) }
            }
            #expect(try t.store.verify().ok)
        }
    }
}
