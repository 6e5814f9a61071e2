import Foundation
import Testing
@testable import NN
import Tensors

/// A two-layer MLP built from the engine's `Linear` (x [B,3] → fc1 → tanh [B,8] → dropout → fc2 [B,2]),
/// so the checkpoint test exercises parameters, optimizer, EMA, clipping, schedule, dropout RNG and the
/// data-sampling RNG together.
private final class TinyMLP {
    let fc1: Linear, fc2: Linear
    let dropout: Dropout
    var params: [Parameter] { fc1.parameters + fc2.parameters }
    var w1: Parameter { fc1.weight }
    private var h = Tensor(zeros: [0])

    init(seed: UInt64) {
        var rng = RNG(seed: seed)
        fc1 = Linear(name: "fc1", inFeatures: 3, outFeatures: 8, rng: &rng)
        fc2 = Linear(name: "fc2", inFeatures: 8, outFeatures: 2, rng: &rng)
        dropout = Dropout(p: 0.2, rng: &rng)
    }

    func forward(_ x: Tensor) -> Tensor {
        h = fc1.forward(x)
        for i in 0..<h.count { h.data[i] = tanh(h.data[i]) }
        return fc2.forward(dropout.forward(h))
    }

    func backward(_ dout: Tensor) {
        var dh = dropout.backward(fc2.backward(dout))
        for i in 0..<dh.count { dh.data[i] *= 1 - h.data[i] * h.data[i] }
        _ = fc1.backward(dh)
    }
}

/// Model + optimizer + EMA + data RNG: everything a resumed run must restore.
private struct Run {
    let model: TinyMLP
    let opt: AdamW
    let ema: EMA
    var rng: RNG
    let schedule = LRSchedule.warmupCosine(peak: 0.05, warmupSteps: 3, totalSteps: 12, floor: 0.001)
    var step = 0
    static let data: (x: Tensor, y: Tensor) = {
        var r = RNG(seed: 99)
        var x = Tensor(zeros: [64, 3]), y = Tensor(zeros: [64, 2])
        x.withUnsafeMutableBufferPointer { r.fillNormal($0) }
        for i in 0..<64 { y[i, 0] = sin(x[i, 0]) + x[i, 1] * x[i, 2]; y[i, 1] = cos(x[i, 2]) - x[i, 0] }
        return (x, y)
    }()

    init(initSeed: UInt64, dataSeed: UInt64) {
        model = TinyMLP(seed: initSeed)
        opt = AdamW(parameters: model.params, learningRate: 0.01, weightDecay: 0.05)
        ema = EMA(parameters: model.params)
        rng = RNG(seed: dataSeed)
    }

    mutating func train(steps: Int) {
        for _ in 0..<steps {
            opt.zeroGrad()
            let idx = (0..<8).map { _ in rng.int(below: 64) }
            var xb = Tensor(zeros: [8, 3]), yb = Tensor(zeros: [8, 2])
            for (r, i) in idx.enumerated() {
                for k in 0..<3 { xb[r, k] = Run.data.x[i, k] }
                for k in 0..<2 { yb[r, k] = Run.data.y[i, k] }
            }
            let (_, g) = Losses.mse(model.forward(xb), yb)
            model.backward(g)
            clipGradNorm(model.params, maxNorm: 0.5)
            opt.learningRate = schedule.lr(at: step)
            opt.step()
            ema.update(decay: 0.95, warmup: true)
            step += 1
        }
    }

    func save(_ path: String) throws {
        try TrainingCheckpoint.save(to: path, parameters: model.params, optimizer: opt, ema: ema,
                                    rngs: ["main": rng, "dropout": model.dropout.rng], step: step,
                                    config: "{\"model\":\"tiny-mlp\"}", metadata: ["note": "test"])
    }

    mutating func load(_ path: String) throws {
        let s = try TrainingCheckpoint.load(from: path, parameters: model.params, optimizer: opt, ema: ema)
        rng = s.rngs["main"]!
        model.dropout.rng = s.rngs["dropout"]!
        step = s.step
    }
}

@Suite struct CheckpointTests {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// 12 uninterrupted steps == 6 steps, save, load into a differently initialised fresh run, 6 steps:
    /// the final checkpoints are byte-identical (weights, EMA, optimizer moments, RNGs, step).
    @Test func resumeIsBitIdenticalToNeverStopping() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var straight = Run(initSeed: 1, dataSeed: 2)
        straight.train(steps: 12)
        try straight.save(dir.appendingPathComponent("straight.safetensors").path)

        var first = Run(initSeed: 1, dataSeed: 2)
        first.train(steps: 6)
        let mid = dir.appendingPathComponent("mid.safetensors").path
        try first.save(mid)
        var resumed = Run(initSeed: 777, dataSeed: 888) // everything must come from the file
        try resumed.load(mid)
        #expect(resumed.step == 6 && resumed.opt.stepCount == 6 && resumed.ema.updateCount == 6)
        resumed.train(steps: 6)
        try resumed.save(dir.appendingPathComponent("resumed.safetensors").path)

        let a = try Data(contentsOf: dir.appendingPathComponent("straight.safetensors"))
        let b = try Data(contentsOf: dir.appendingPathComponent("resumed.safetensors"))
        #expect(a == b, "resumed run diverged from the uninterrupted one")
        // The comparison is meaningful: training moved the weights, and a run that loses e.g. its
        // dropout RNG state on resume does diverge.
        #expect(straight.model.w1.value != Run(initSeed: 1, dataSeed: 2).model.w1.value)
        var lossy = Run(initSeed: 1, dataSeed: 2)
        try lossy.load(mid)
        lossy.model.dropout.rng = RNG(seed: 5)
        lossy.train(steps: 6)
        #expect(lossy.model.w1.value != straight.model.w1.value)

        let f = try SafeTensors.read(path: mid)
        #expect(f.metadata["step"] == "6" && f.metadata["note"] == "test" && f.metadata["optimizer"] == "AdamW")
        #expect(f.metadata["config"] == "{\"model\":\"tiny-mlp\"}")
        #expect(Set(f.names) == Set(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"].flatMap {
            [$0, "ema." + $0, "opt.\($0).exp_avg", "opt.\($0).exp_avg_sq"] }))
    }

    @Test func mismatchedCheckpointsFailCleanlyAndLeaveStateUntouched() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.safetensors").path
        var run = Run(initSeed: 1, dataSeed: 2)
        run.train(steps: 2)
        try run.save(path)

        func expectLoadError(_ mentions: String, parameters: [Parameter], optimizer: (any Optimizer)? = nil, ema: EMA? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try TrainingCheckpoint.load(from: path, parameters: parameters, optimizer: optimizer, ema: ema)
                Issue.record("load unexpectedly succeeded", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains("c.safetensors") && "\(error)".contains(mentions), "\(error)", sourceLocation: sourceLocation)
            }
        }
        let other = Run(initSeed: 3, dataSeed: 4)
        let before = other.model.params.map(\.value)
        // wrong shape
        let wide = [Parameter(name: "fc1.weight", value: Tensor(zeros: [9, 3]))] + other.model.params.dropFirst()
        expectLoadError("fc1.weight", parameters: Array(wide))
        // model with fewer parameters than the file holds
        expectLoadError("fc2.bias", parameters: Array(other.model.params.prefix(3)))
        // wrong optimizer kind
        expectLoadError("AdamW", parameters: other.model.params, optimizer: SGD(parameters: other.model.params, learningRate: 0.1, momentum: 0.9))
        // EMA requested for a parameter the file has no average of
        let extra = Parameter(name: "fc3.weight", value: Tensor(zeros: [1]))
        expectLoadError("ema.fc3.weight", parameters: other.model.params, optimizer: other.opt,
                        ema: EMA(parameters: other.model.params + [extra]))
        #expect(other.model.params.map(\.value) == before)
        #expect(other.opt.stepCount == 0)
        // not a training checkpoint
        let plain = dir.appendingPathComponent("plain.safetensors").path
        try SafeTensors.write(other.model.params.map { ($0.name, $0.value) }, to: plain)
        #expect(throws: SafeTensorsError.self) {
            _ = try TrainingCheckpoint.load(from: plain, parameters: other.model.params)
        }
    }

    @Test func loadWeightsPrefersEMAWhenAsked() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        var run = Run(initSeed: 1, dataSeed: 2)
        run.train(steps: 3)
        try run.save(path)
        let live = TinyMLP(seed: 50), averaged = TinyMLP(seed: 51)
        try TrainingCheckpoint.loadWeights(from: path, into: live.params, preferEMA: false)
        try TrainingCheckpoint.loadWeights(from: path, into: averaged.params, preferEMA: true)
        #expect(live.params.map(\.value) == run.model.params.map(\.value))
        #expect(averaged.params.map(\.value) == run.ema.values)
        #expect(run.ema.values != run.model.params.map(\.value))
    }
}
