import Models
import NN
import Tensors
#if canImport(Glibc)
/// glibc's `mallopt` (malloc.h is not part of the Glibc module); option codes from malloc.h.
@_silgen_name("mallopt") private func glibcMallopt(_ option: Int32, _ value: Int32) -> Int32
private let mTrimThreshold: Int32 = -1, mMmapThreshold: Int32 = -3
#endif

/// Benchmark workloads W1–W3 on the reference UNet, exactly as `shared/bench/torch_reference.py`:
///  W1 DDPM train step at 32×32, batch 32 (ε-prediction MSE, t ~ U{0..999}, linear betas 1e-4…0.02,
///     random one-hot condition, Adam lr 2e-4);  W2 the same at 64×64, batch 16;
///  W3 one forward pass at 32×32, batch 64, t = 500.
public enum UNetWorkloads {
    /// Shape of one workload: image size and batch.
    public static func shape(_ w: String) -> (resolution: Int, batch: Int)? {
        switch w {
        case "W1": return (32, 32)
        case "W2": return (64, 16)
        case "W3": return (32, 64)
        default: return nil
        }
    }

    /// ᾱ_t = Π_{s≤t} (1 − β_s) for the linear schedule β = linspace(1e-4, 0.02, 1000) (Float32, as PyTorch).
    public static func alphaBar(steps: Int = 1000) -> [Float] {
        var out: [Float] = [], prod: Float = 1
        for i in 0..<steps {
            let beta = Float(1e-4 + (0.02 - 1e-4) * Double(i) / Double(steps - 1))
            prod *= 1 - beta
            out.append(prod)
        }
        return out
    }

    /// One DDPM training step on a fixed batch: draws t and ε with `rng`, forms x_t, runs forward, MSE
    /// against ε, backward and `optimizer.step()`. Returns the loss.
    @discardableResult
    public static func ddpmStep(model: UNet, optimizer: Adam, x0: Tensor, cond: Tensor, alphaBar: [Float],
                                rng: inout RNG) -> Float {
        let n = x0.shape[0], per = x0.count / n
        var t = [Float](repeating: 0, count: n)
        var noise = Tensor(zeros: x0.shape)
        noise.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        var xt = Tensor(zeros: x0.shape)
        for b in 0..<n {
            let step = rng.int(below: alphaBar.count)
            t[b] = Float(step)
            let a = alphaBar[step].squareRoot(), s = (1 - alphaBar[step]).squareRoot()
            for i in (b * per)..<((b + 1) * per) { xt.data[i] = a * x0.data[i] + s * noise.data[i] }
        }
        let pred = model.forward(xt, t: t, cond: cond)
        let (loss, grad) = Losses.mse(pred, noise)
        for p in model.parameters { p.zeroGrad() }
        model.backward(grad)
        optimizer.step()
        return loss
    }

    /// Runs workload `w` ("W1", "W2" or "W3") and times `steps` steps after `warmup` untimed ones.
    public static func run(_ w: String, threads: Int, steps: Int, warmup: Int) -> BenchResult {
        guard let (res, bs) = shape(w) else { preconditionFailure("UNetWorkloads: unknown workload \(w)") }
        BLAS.setThreads(threads)
        Parallel.threads = threads
        #if canImport(Glibc)
        // Keep freed activation buffers (up to 32 MiB each) in the heap instead of unmapping them: otherwise
        // every layer's output faults in fresh zeroed pages on each step.
        _ = glibcMallopt(mMmapThreshold, 32 << 20)
        _ = glibcMallopt(mTrimThreshold, 1 << 30)
        #endif
        var rng = RNG(seed: 0)
        let model = UNet(.reference(resolution: res), rng: &rng)
        let optimizer = Adam(parameters: model.parameters, learningRate: 2e-4)
        var x0 = Tensor(zeros: [bs, 3, res, res])
        x0.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        var cond = Tensor(zeros: [bs, 10])
        for b in 0..<bs { cond.data[b * 10 + rng.int(below: 10)] = 1 }
        let abar = alphaBar()
        let times: [Double]
        if w == "W3" {
            let t = [Float](repeating: 500, count: bs)
            // Inference forward, as torch_reference.py's W3 runs under no_grad.
            times = Bench.time(steps: steps, warmup: warmup) { _ = model.forward(x0, t: t, cond: cond, inference: true) }
        } else {
            times = Bench.time(steps: steps, warmup: warmup) {
                ddpmStep(model: model, optimizer: optimizer, x0: x0, cond: cond, alphaBar: abar, rng: &rng)
            }
        }
        return BenchResult(workload: w, params: model.parameterCount, stepSeconds: times, batch: bs,
                           gflopPerStep: nil, threads: threads)
    }
}
