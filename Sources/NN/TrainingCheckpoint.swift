import Foundation
import Tensors

// One safetensors file holds everything a run needs to continue bit-identically:
//   <param name>                  the live parameter values (PyTorch state_dict names)
//   ema.<param name>              EMA averages (when an EMA is tracked)
//   opt.<param name>.<slot>       optimizer state (exp_avg, exp_avg_sq, momentum)
// and in __metadata__ (all strings):
//   format = fairgen-training-checkpoint-1, step, config (a JSON string), optimizer (type name),
//   optimizer.step, ema.updates, rng.<name> = "s0,s1,s2,s3" (decimal xoshiro state words),
//   plus any caller-supplied keys.
// Gradients are not saved: the training loop zeroes them at the start of every step.

/// The scalar state a checkpoint restores, returned by `TrainingCheckpoint.load`.
public struct TrainingState: Sendable {
    /// The training loop's step counter as saved.
    public var step: Int
    /// Named generator states (e.g. "main", "dropout.0").
    public var rngs: [String: RNG]
    /// The config JSON string saved with the run.
    public var config: String
    /// The full metadata map (including caller-supplied keys).
    public var metadata: [String: String]
}

/// Save/restore of a full training state (parameters, EMA, optimizer, RNGs, step, config).
public enum TrainingCheckpoint {
    public static let format = "fairgen-training-checkpoint-1"
    static let reservedKeys: Set<String> = ["format", "step", "config", "optimizer", "optimizer.step", "ema.updates"]

    /// The tensors and metadata `save` writes (exposed for tests and for hashing).
    public static func contents(parameters: [Parameter], optimizer: (any Optimizer)? = nil, ema: EMA? = nil,
                                rngs: [String: RNG] = [:], step: Int, config: String = "{}",
                                metadata extra: [String: String] = [:]) -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        var tensors: [(name: String, tensor: Tensor)] = []
        for p in parameters {
            precondition(!p.name.hasPrefix("ema.") && !p.name.hasPrefix("opt."),
                         "TrainingCheckpoint: parameter name '\(p.name)' uses a reserved prefix")
            tensors.append((p.name, p.value))
        }
        var meta: [String: String] = [:]
        for (k, v) in extra {
            precondition(!reservedKeys.contains(k) && !k.hasPrefix("rng."), "TrainingCheckpoint: metadata key '\(k)' is reserved")
            meta[k] = v
        }
        meta["format"] = format
        meta["step"] = String(step)
        meta["config"] = config
        if let ema {
            for (name, t) in ema.tensors { tensors.append(("ema." + name, t)) }
            meta["ema.updates"] = String(ema.updateCount)
        }
        if let optimizer {
            for (name, t) in optimizer.stateTensors() { tensors.append(("opt." + name, t)) }
            meta["optimizer"] = String(describing: type(of: optimizer))
            meta["optimizer.step"] = String(optimizer.stepCount)
        }
        for (name, r) in rngs {
            let s = r.state
            meta["rng." + name] = "\(s.0),\(s.1),\(s.2),\(s.3)"
        }
        return (tensors, meta)
    }

    /// Writes the checkpoint atomically (temp file + fsync + rename).
    public static func save(to path: String, parameters: [Parameter], optimizer: (any Optimizer)? = nil, ema: EMA? = nil,
                            rngs: [String: RNG] = [:], step: Int, config: String = "{}",
                            metadata: [String: String] = [:]) throws {
        let c = contents(parameters: parameters, optimizer: optimizer, ema: ema, rngs: rngs, step: step,
                         config: config, metadata: metadata)
        try SafeTensors.write(c.tensors, metadata: c.metadata, to: path)
    }

    /// Reads a checkpoint and restores it into `parameters`, `optimizer` and `ema` (matched by name);
    /// returns step, RNG states and config. Everything is validated before anything is modified, so a
    /// failed load leaves the objects untouched. Errors name the file and the tensor or key at fault.
    public static func load(from path: String, parameters: [Parameter], optimizer: (any Optimizer)? = nil,
                            ema: EMA? = nil) throws -> TrainingState {
        try restore(SafeTensors.read(path: path), source: path, parameters: parameters, optimizer: optimizer, ema: ema)
    }

    /// `load` on an already decoded file.
    public static func restore(_ file: SafeTensorsFile, source: String, parameters: [Parameter],
                               optimizer: (any Optimizer)? = nil, ema: EMA? = nil) throws -> TrainingState {
        func fail(_ reason: String, _ tensor: String? = nil) -> SafeTensorsError {
            SafeTensorsError(source: source, tensor: tensor, reason: reason)
        }
        let meta = file.metadata
        guard meta["format"] == format else {
            throw fail("metadata \"format\" is \(meta["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)'")
        }
        func int(_ key: String) throws -> Int {
            guard let s = meta[key], let v = Int(s), v >= 0 else {
                throw fail("metadata \"\(key)\" is \(meta[key].map { "'\($0)'" } ?? "missing"), expected a non-negative integer")
            }
            return v
        }
        let step = try int("step")

        // Parameters: every one present with its shape; no unknown plain tensors (another model's file).
        var values: [Tensor] = []
        let known = Set(parameters.map(\.name))
        for p in parameters {
            guard let t = file.tensors[p.name] else { throw fail("parameter is missing from the checkpoint", p.name) }
            guard t.shape == p.shape else { throw fail("shape \(t.shape), the model expects \(p.shape)", p.name) }
            values.append(t)
        }
        for name in file.names where !name.hasPrefix("ema.") && !name.hasPrefix("opt.") && !known.contains(name) {
            throw fail("tensor is not a parameter of this model (checkpoint of a different architecture?)", name)
        }

        // EMA: validate fully before the optimizer mutates anything.
        var emaUpdates = 0
        if let ema {
            emaUpdates = try int("ema.updates")
            for p in ema.parameters {
                guard let t = file.tensors["ema." + p.name] else { throw fail("EMA weight is missing", "ema." + p.name) }
                guard t.shape == p.shape else { throw fail("shape \(t.shape), expected \(p.shape)", "ema." + p.name) }
            }
        }

        if let optimizer {
            let kind = String(describing: type(of: optimizer))
            guard meta["optimizer"] == kind else {
                throw fail("checkpoint holds \(meta["optimizer"] ?? "no") optimizer state, but the run uses \(kind)")
            }
            let optStep = try int("optimizer.step")
            var state: [String: Tensor] = [:]
            for (name, t) in file.tensors where name.hasPrefix("opt.") { state[String(name.dropFirst(4))] = t }
            try optimizer.loadState(state, stepCount: optStep, source: source) // throws before mutating
        }
        if let ema {
            try ema.load(file.tensors, prefix: "ema.", updateCount: emaUpdates, source: source) // validated above
        }
        for (p, v) in zip(parameters, values) { p.value = v }

        var rngs: [String: RNG] = [:]
        for (key, value) in meta where key.hasPrefix("rng.") {
            let words = value.split(separator: ",").compactMap { UInt64($0) }
            guard words.count == 4 else {
                throw fail("metadata \"\(key)\" is '\(value)', expected four comma-separated UInt64 words")
            }
            rngs[String(key.dropFirst(4))] = RNG(state: (words[0], words[1], words[2], words[3]))
        }
        return TrainingState(step: step, rngs: rngs, config: meta["config"] ?? "{}", metadata: meta)
    }

    /// Loads only weights into `parameters` (for sampling/evaluation): the EMA averages ("ema.<name>")
    /// when `preferEMA` and the file has them, else the live values. Accepts training checkpoints and
    /// plain weight files alike.
    public static func loadWeights(from path: String, into parameters: [Parameter], preferEMA: Bool) throws {
        let file = try SafeTensors.read(path: path)
        let useEMA = preferEMA && parameters.allSatisfy { file.tensors["ema." + $0.name] != nil }
        var values: [Tensor] = []
        for p in parameters {
            let key = useEMA ? "ema." + p.name : p.name
            guard let t = file.tensors[key] else {
                throw SafeTensorsError(source: path, tensor: key, reason: "weight is missing")
            }
            guard t.shape == p.shape else {
                throw SafeTensorsError(source: path, tensor: key, reason: "shape \(t.shape), the model expects \(p.shape)")
            }
            values.append(t)
        }
        for (p, v) in zip(parameters, values) { p.value = v }
    }
}
