import Models
import NN
import Tensors

/// Benchmark workloads W4/W5 of shared/bench/torch_reference.py: one ResNet-18 training step (7 classes,
/// batch 64, cross-entropy, SGD lr 0.1 momentum 0.9) on fixed random inputs at 64×64 (W4) or 32×32 (W5).
public enum ResNetWorkloads {
    /// Workload names this type runs.
    public static let names = ["W4", "W5"]

    /// Runs `warmup` untimed and `steps` timed training steps with `threads` BLAS and element-wise threads.
    public static func run(_ w: String, threads: Int, steps: Int, warmup: Int) -> BenchResult {
        let resolution: Int
        switch w {
        case "W4": resolution = 64
        case "W5": resolution = 32
        default: preconditionFailure("ResNetWorkloads: unknown workload \(w), expected one of \(names)")
        }
        BLAS.setThreads(threads)
        Parallel.threads = threads
        let batch = 64, classes = 7
        var rng = RNG(seed: 0)
        let model = ResNet(ResNetConfig(inChannels: 3, numOutputs: classes, resolution: resolution), rng: &rng)
        let sgd = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var x = Tensor(zeros: [batch, 3, resolution, resolution])
        x.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let labels = (0..<batch).map { _ in rng.int(below: classes) }
        let times = Bench.time(steps: steps, warmup: warmup) {
            sgd.zeroGrad()
            let (_, dlogits) = Losses.crossEntropy(logits: model.forward(x), targets: labels)
            _ = model.backward(dlogits)
            sgd.step()
        }
        return BenchResult(workload: w, params: model.parameterCount, stepSeconds: times, batch: batch,
                           gflopPerStep: gflopPerStep(model, batch: batch), threads: threads)
    }

    /// Matrix-product work of one training step, counted as PyTorch's FlopCounterMode does (2 per
    /// multiply-add): forward, weight gradient and input gradient of every conv and the Linear, except the
    /// input gradient of the stem conv (the image needs none).
    static func gflopPerStep(_ model: ResNet, batch: Int) -> Double {
        var side = model.config.resolution
        func conv(_ c: Conv2d, input: Int, first: Bool = false) -> (flops: Double, output: Int) {
            let out = (input + 2 * c.padding - c.kernel) / c.stride + 1
            let macs = Double(batch * c.outChannels * out * out * c.inChannels * c.kernel * c.kernel)
            return (2 * macs * (first ? 2 : 3), out)
        }
        var total = 0.0
        let stem = conv(model.stemConv, input: side, first: true)
        total += stem.flops; side = stem.output
        if let pool = model.stemPool { side = (side + 2 * pool.padding - pool.kernel) / pool.stride + 1 }
        for b in model.blocks {
            let c1 = conv(b.c1, input: side)
            total += c1.flops + conv(b.c2, input: c1.output).flops
            if let sc = b.shortcutConv { total += conv(sc, input: side).flops }
            side = c1.output
        }
        total += 2 * Double(batch * model.fc.inFeatures * model.fc.outFeatures) * 3
        return total / 1e9
    }
}
