import Foundation
import NN
import Tensors
@testable import Diffusion

/// Directory of the committed fixtures.
let fixtureDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/torch").path

/// The Bayes-optimal denoiser of a Gaussian data distribution x₀ ~ N(μ, s²) (every element independent).
/// With F conditioning columns, μ = means[j] for the first non-zero column j, `nullMean` for an all-zero
/// vector — so guidance and img2img have something to steer. Returns E[ε | x_t] (or E[v | x_t]):
///   E[x₀|x_t] = μ + √ᾱ s² (x_t − √ᾱ μ)/(ᾱ s² + 1 − ᾱ),  E[ε|x_t] = √(1−ᾱ)(x_t − √ᾱ μ)/(ᾱ s² + 1 − ᾱ).
final class GaussianDenoiser: Denoiser {
    let schedule: NoiseSchedule
    let prediction: Prediction
    let means: [Float], nullMean: Float, std: Float
    let channels: Int
    /// Batch sizes of every `predict` call.
    var calls: [Int] = []
    /// Last inputs seen (for the cascade test).
    var lastInput: Tensor? = nil, lastCond: Tensor? = nil

    init(schedule: NoiseSchedule, prediction: Prediction = .epsilon, means: [Float] = [], nullMean: Float, std: Float, channels: Int = 1) {
        self.schedule = schedule; self.prediction = prediction; self.means = means; self.nullMean = nullMean
        self.std = std; self.channels = channels
    }
    var condDim: Int { means.count }
    var outChannels: Int { channels }

    func mean(of cond: Tensor, row i: Int) -> Float {
        let f = cond.shape[1]
        for j in 0..<min(f, means.count) where cond.data[i * f + j] != 0 { return means[j] }
        return nullMean
    }

    func predict(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor {
        calls.append(x.shape[0]); lastInput = x; lastCond = cond
        let n = x.shape[0], hw = x.shape[2] * x.shape[3], m = x.count / n
        var out = Tensor(zeros: [n, channels, x.shape[2], x.shape[3]])
        let s2 = Double(std * std)
        for i in 0..<n {
            let ab = schedule.alphaBar[t[i]], sa = ab.squareRoot(), sb = (1 - ab).squareRoot()
            let mu = Double(mean(of: cond, row: i))
            let denom = ab * s2 + 1 - ab
            for j in 0..<(channels * hw) {
                let xt = Double(x.data[i * m + j])
                let eps = sb * (xt - sa * mu) / denom
                let x0 = mu + sa * s2 * (xt - sa * mu) / denom
                out.data[i * channels * hw + j] = Float(prediction == .epsilon ? eps : sa * eps - sb * x0)
            }
        }
        return out
    }
}

/// A small trainable denoiser built from the engine's layers:
///   h = conv1(x) + Linear([sin/cos features of t | cond]) (per channel), a = relu(h), out = conv2(a).
final class TinyDenoiser: TrainableDenoiser {
    let conv1: Conv2d, conv2: Conv2d, embed: Linear
    let hidden: Int, condDim: Int, outChannels: Int, steps: Int
    private var preActivation = Tensor(zeros: [0])

    init(inChannels: Int, outChannels: Int, condDim: Int, hidden: Int = 8, steps: Int, seed: UInt64) {
        var rng = RNG(seed: seed)
        conv1 = Conv2d(name: "conv1", inChannels: inChannels, outChannels: hidden, kernel: 3, padding: 1, rng: &rng)
        embed = Linear(name: "embed", inFeatures: 4 + condDim, outFeatures: hidden, rng: &rng)
        conv2 = Conv2d(name: "conv2", inChannels: hidden, outChannels: outChannels, kernel: 3, padding: 1, rng: &rng)
        self.hidden = hidden; self.condDim = condDim; self.outChannels = outChannels; self.steps = steps
    }

    var parameters: [Parameter] { conv1.parameters + embed.parameters + conv2.parameters }

    func features(_ t: [Int], _ cond: Tensor) -> Tensor {
        var f: [Float] = []
        for (i, ti) in t.enumerated() {
            let u = Double(ti) / Double(steps)
            f += [Float(sin(u * 3)), Float(cos(u * 3)), Float(sin(u * 9)), Float(cos(u * 9))]
            f += cond.data[(i * condDim)..<((i + 1) * condDim)]
        }
        return Tensor(shape: [t.count, 4 + condDim], data: f)
    }

    func forward(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor {
        var h = conv1.forward(x)
        let e = embed.forward(features(t, cond))
        let hw = h.shape[2] * h.shape[3]
        for i in 0..<h.shape[0] { for c in 0..<hidden { for j in 0..<hw { h.data[(i * hidden + c) * hw + j] += e.data[i * hidden + c] } } }
        preActivation = h
        var a = h
        for k in 0..<a.count { a.data[k] = max(a.data[k], 0) }
        return conv2.forward(a)
    }

    func predict(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor { forward(x, t: t, cond: cond) }

    func backward(_ dy: Tensor) {
        var da = conv2.backward(dy)
        for k in 0..<da.count where preActivation.data[k] <= 0 { da.data[k] = 0 }
        let hw = da.shape[2] * da.shape[3]
        var de = Tensor(zeros: [da.shape[0], hidden])
        for i in 0..<da.shape[0] { for c in 0..<hidden {
            var s: Float = 0
            for j in 0..<hw { s += da.data[(i * hidden + c) * hw + j] }
            de.data[i * hidden + c] = s
        } }
        _ = embed.backward(de)
        _ = conv1.backward(da)
    }
}

/// Mean and (population) standard deviation of all elements.
func moments(_ x: Tensor) -> (mean: Double, std: Double) {
    let n = Double(x.count)
    let m = x.data.reduce(0.0) { $0 + Double($1) } / n
    let v = x.data.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / n
    return (m, v.squareRoot())
}
