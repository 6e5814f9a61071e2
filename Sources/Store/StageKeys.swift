import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A stage's cache key (DESIGN §1): hex SHA-256 of the canonical JSON of
/// `{"code_version": …, "config": …, "inputs": […], "stage": …}`. Inputs keep their order (they are
/// positional); the config slice is canonicalised, so key order and number spelling do not matter.
public struct StageKey: Hashable, Sendable, CustomStringConvertible {
    /// 64 lowercase hex digits.
    public let hex: String

    /// Wraps an existing key (64 hex digits), e.g. one read back from run.json.
    public init?(_ hex: String) {
        guard let id = ObjectID(hex) else { return nil }
        self.hex = id.hex
    }

    public var description: String { hex }

    /// The canonical document a key hashes; exposed so that tests and `store show` can print it.
    public static func document(stage: String, codeVersion: String, config: JSONValue, inputs: [String]) throws -> String {
        try CanonicalJSON.encode(.object([
            "stage": .string(stage),
            "code_version": .string(codeVersion),
            "config": config,
            "inputs": .array(inputs.map { .string($0) }),
        ]))
    }

    /// The key of `stage` at `codeVersion` run on `inputs` (object ids or input digests) with `config`.
    public static func compute(stage: String, codeVersion: String, config: JSONValue, inputs: [String]) throws -> StageKey {
        let text = try document(stage: stage, codeVersion: codeVersion, config: config, inputs: inputs)
        return StageKey(uncheckedHex: Digests.sha256(Array(text.utf8)).hex)
    }

    /// Same, with the config slice given as any Encodable value.
    public static func compute<C: Encodable>(stage: String, codeVersion: String, config: C, inputs: [String]) throws -> StageKey {
        try compute(stage: stage, codeVersion: codeVersion, config: JSONValue.from(config), inputs: inputs)
    }

    private init(uncheckedHex: String) { hex = uncheckedHex }
}

/// The run-cache: `keys/<stage>/<key>` holds the output of that stage run. One output is stored as
/// its object id on one line; several as a canonical JSON object `{"name": "id", …}`.
extension Store {
    /// The name used for a stage's output when it has exactly one.
    public static let singleOutputName = "object"

    func keyPath(stage: String, key: StageKey) -> String { keysPath + "/" + stage + "/" + key.hex }

    /// The outputs recorded for `key`, or nil on a miss. A record whose objects are gone (or that
    /// cannot be read) counts as a miss, so the stage simply runs again.
    ///
    /// A hit hands its objects to later stages as they are, so every output object is re-hashed
    /// first (streaming; cheap next to any stage's work). An object whose bytes no longer match its id
    /// is reported to `onCorrupt` and the lookup is a miss: the stage runs again and its `put`
    /// replaces the corrupt object with the recomputed one (docs/store.md, "Integrity").
    public func lookup(stage: String, key: StageKey, onCorrupt: (ObjectID) -> Void = { _ in }) throws -> [String: ObjectID]? {
        try Store.validateStageName(stage)
        let path = keyPath(stage: stage, key: key)
        guard FileIO.exists(path) else { return nil }
        guard let outputs = try? Store.parseKeyFile(FileIO.readFile(path)) else { return nil }
        guard outputs.values.allSatisfy(objects.exists) else { return nil }
        var intact = true
        for id in Set(outputs.values).sorted() where !objects.isIntact(id) {
            onCorrupt(id)
            intact = false
        }
        return intact ? outputs : nil
    }

    /// The single output recorded for `key`, or nil (same checks as `lookup`).
    public func lookupObject(stage: String, key: StageKey, onCorrupt: (ObjectID) -> Void = { _ in }) throws -> ObjectID? {
        guard let outputs = try lookup(stage: stage, key: key, onCorrupt: onCorrupt), outputs.count == 1 else { return nil }
        return outputs.values.first
    }

    /// Records the outputs of a finished stage (their objects must already be in the store). A key
    /// is written once: if it already maps to intact objects, that record is kept and returned (a
    /// record naming a missing or corrupt object is replaced).
    @discardableResult
    public func record(stage: String, key: StageKey, outputs: [String: ObjectID]) throws -> [String: ObjectID] {
        try Store.validateStageName(stage)
        guard !outputs.isEmpty else { throw StoreError(.invalid, "stage \(stage): a key needs at least one output") }
        for (name, id) in outputs where !objects.exists(id) {
            throw StoreError(.notFound, "stage \(stage): output '\(name)' object \(id.hex) is not in the store")
        }
        if let existing = try lookup(stage: stage, key: key) { return existing }
        let dir = keysPath + "/" + stage
        try FileIO.makeDirectories(dir)
        try FileIO.atomicWrite(Store.keyFileBytes(outputs), to: dir + "/" + key.hex, tmpDirectory: tmpPath)
        return outputs
    }

    /// Records a stage's single output.
    @discardableResult
    public func record(stage: String, key: StageKey, object: ObjectID) throws -> ObjectID {
        let kept = try record(stage: stage, key: key, outputs: [Store.singleOutputName: object])
        return kept[Store.singleOutputName] ?? object
    }

    static func keyFileBytes(_ outputs: [String: ObjectID]) throws -> [UInt8] {
        if outputs.count == 1, let id = outputs[singleOutputName] { return Array((id.hex + "\n").utf8) }
        let text = try CanonicalJSON.encode(.object(outputs.mapValues { .string($0.hex) }))
        return Array((text + "\n").utf8)
    }

    /// Parses a key file: one id line, or a JSON object of ids.
    static func parseKeyFile(_ bytes: [UInt8]) throws -> [String: ObjectID] {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if let id = ObjectID(text) { return [singleOutputName: id] }
        let outputs = try JSONDecoder().decode([String: ObjectID].self, from: Data(text.utf8))
        guard !outputs.isEmpty else { throw StoreError(.corrupt, "empty key file") }
        return outputs
    }

    /// Every key file: (stage, key file name, path).
    func allKeyFiles() throws -> [(stage: String, name: String, path: String)] {
        var out: [(String, String, String)] = []
        for stage in try FileIO.list(keysPath) {
            for name in try FileIO.list(keysPath + "/" + stage) {
                out.append((stage, name, keysPath + "/" + stage + "/" + name))
            }
        }
        return out
    }
}
