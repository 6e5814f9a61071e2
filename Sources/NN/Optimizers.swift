import CKernels
import Tensors

// Optimizers over `[Parameter]`, with PyTorch's update rules (torch.optim, single-tensor CPU path),
// element-wise in Float32 like PyTorch so that a few steps match its fixtures to ~1e-7.
//
// State is per parameter, aligned with `parameters`, and exported as named tensors
// ("<param>.exp_avg", "<param>.exp_avg_sq", "<param>.momentum") plus `stepCount`, which is all a
// checkpoint needs to continue bit-identically.

/// A first-order optimizer: reads `Parameter.grad`, updates `Parameter.value` in place.
public protocol Optimizer: AnyObject {
    /// The parameters updated by `step()`, in a fixed order.
    var parameters: [Parameter] { get }
    /// Current learning rate (a schedule sets it before each step).
    var learningRate: Float { get set }
    /// Number of `step()` calls so far (PyTorch's per-parameter `state["step"]`; all parameters share it).
    var stepCount: Int { get }
    /// Applies one update from the current gradients (it does not zero them).
    func step()
    /// The optimizer state as named tensors ("<param>.<slot>"), for checkpoints.
    func stateTensors() -> [(name: String, tensor: Tensor)]
    /// Restores state saved by `stateTensors()`; every slot of every parameter must be present with
    /// the parameter's shape. `source` names the checkpoint file in errors.
    func loadState(_ tensors: [String: Tensor], stepCount: Int, source: String) throws
}

extension Optimizer {
    /// Zeroes every parameter's gradient.
    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }
}

/// Shared helpers: state lookup with clear errors and the pointer plumbing of element-wise updates.
enum OptimizerState {
    static func checkUniqueNames(_ parameters: [Parameter]) {
        var seen = Set<String>()
        for p in parameters { precondition(seen.insert(p.name).inserted, "optimizer: duplicate parameter name '\(p.name)'") }
    }

    /// `tensors["<param>.<slot>"]`, which must have the parameter's shape.
    static func slot(_ tensors: [String: Tensor], _ p: Parameter, _ slot: String, source: String) throws -> Tensor {
        let key = "\(p.name).\(slot)"
        guard let t = tensors[key] else {
            throw SafeTensorsError(source: source, tensor: key, reason: "optimizer state is missing")
        }
        guard t.shape == p.shape else {
            throw SafeTensorsError(source: source, tensor: key, reason: "shape \(t.shape), expected the parameter's \(p.shape)")
        }
        return t
    }
}

/// Adam (Kingma & Ba) with PyTorch semantics: m ← lerp(m, g, 1−β₁), v ← β₂v + (1−β₂)g²,
/// p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε). `weightDecay` here is PyTorch Adam's L2 term
/// (g ← g + λp); `AdamW` decouples it instead.
public class Adam: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    /// true: AdamW's p ← p·(1 − lr·λ) before the Adam step; false: L2 added to the gradient.
    public let decoupledWeightDecay: Bool
    public private(set) var stepCount = 0
    /// First moments, aligned with `parameters`.
    public private(set) var expAvg: [Tensor]
    /// Second moments, aligned with `parameters`.
    public private(set) var expAvgSq: [Tensor]

    public init(parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        OptimizerState.checkUniqueNames(parameters)
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        expAvg = parameters.map { Tensor(zeros: $0.shape) }
        expAvgSq = parameters.map { Tensor(zeros: $0.shape) }
    }

    public func step() {
        stepCount += 1
        let t = Double(stepCount)
        let lr = Double(learningRate)
        // Scalars are formed in Double (as Python does) and applied in Float32 (as the tensor kernels do).
        let bc1 = 1 - _pow(Double(beta1), t)
        let bc2Sqrt = (1 - _pow(Double(beta2), t)).squareRoot()
        let stepSize = Float(lr / bc1)
        let invBc2Sqrt = Float(bc2Sqrt)
        let w1 = Float(1 - Double(beta1)), b2 = beta2, w2 = Float(1 - Double(beta2)), eps = self.eps
        let l2 = decoupledWeightDecay ? Float(0) : weightDecay
        let shrink = decoupledWeightDecay ? Float(1 - lr * Double(weightDecay)) : Float(1)
        for (k, p) in parameters.enumerated() {
            let n = p.value.count
            p.grad.withUnsafeBufferPointer { gb in
                p.value.withUnsafeMutableBufferPointer { pb in
                    expAvg[k].withUnsafeMutableBufferPointer { mb in
                        expAvgSq[k].withUnsafeMutableBufferPointer { vb in
                            let g = gb.baseAddress!, x = pb.baseAddress!, m = mb.baseAddress!, v = vb.baseAddress!
                            // fg_adam applies exactly the Float32 operations written out in its contract.
                            Parallel.chunks(n) { r in
                                let o = r.lowerBound
                                fg_adam(x + o, m + o, v + o, g + o, r.count, w1, b2, w2, invBc2Sqrt, eps, stepSize,
                                        l2, shrink)
                            }
                        }
                    }
                }
            }
        }
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        for (k, p) in parameters.enumerated() {
            out.append(("\(p.name).exp_avg", expAvg[k]))
            out.append(("\(p.name).exp_avg_sq", expAvgSq[k]))
        }
        return out
    }

    public func loadState(_ tensors: [String: Tensor], stepCount: Int, source: String) throws {
        precondition(stepCount >= 0)
        var m: [Tensor] = [], v: [Tensor] = []
        for p in parameters {
            m.append(try OptimizerState.slot(tensors, p, "exp_avg", source: source))
            v.append(try OptimizerState.slot(tensors, p, "exp_avg_sq", source: source))
        }
        expAvg = m
        expAvgSq = v
        self.stepCount = stepCount
    }
}

/// AdamW (Loshchilov & Hutter) as in `torch.optim.AdamW`: p ← p·(1 − lr·λ), then the Adam step
/// without L2 in the gradient. PyTorch's default λ = 0.01.
public final class AdamW: Adam {
    public init(parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0.01) {
        super.init(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps,
                   weightDecay: weightDecay, decoupledWeightDecay: true)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
#else
import Darwin
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Darwin.pow(x, y) }
#endif

/// SGD with momentum as in `torch.optim.SGD` (dampening 0): g ← g + λp; buf ← g on the first step,
/// then buf ← μ·buf + g; the update direction is buf (or g + μ·buf with Nesterov); p ← p − lr·dir.
/// With μ = 0 no buffer is kept and the step is plain SGD.
public final class SGD: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    public private(set) var stepCount = 0
    /// Momentum buffers aligned with `parameters` (empty when momentum is 0).
    public private(set) var momentumBuffers: [Tensor]

    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0,
                nesterov: Bool = false) {
        OptimizerState.checkUniqueNames(parameters)
        precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum requires momentum > 0")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        momentumBuffers = momentum == 0 ? [] : parameters.map { Tensor(zeros: $0.shape) }
    }

    public func step() {
        let first = stepCount == 0
        stepCount += 1
        let lr = learningRate, mu = momentum, wd = weightDecay, nesterov = self.nesterov
        for (k, p) in parameters.enumerated() {
            let n = p.value.count
            p.grad.withUnsafeBufferPointer { gb in
                p.value.withUnsafeMutableBufferPointer { pb in
                    let g = gb.baseAddress!, x = pb.baseAddress!
                    if mu == 0 {
                        Parallel.chunks(n) { r in
                            for i in r {
                                let gi = wd != 0 ? g[i] + wd * x[i] : g[i]
                                x[i] = x[i] + (-lr) * gi
                            }
                        }
                        return
                    }
                    momentumBuffers[k].withUnsafeMutableBufferPointer { bb in
                        let b = bb.baseAddress!
                        Parallel.chunks(n) { r in
                            for i in r {
                                let gi = wd != 0 ? g[i] + wd * x[i] : g[i]
                                b[i] = first ? gi : b[i] * mu + gi
                                let d = nesterov ? gi + mu * b[i] : b[i]
                                x[i] = x[i] + (-lr) * d
                            }
                        }
                    }
                }
            }
        }
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        zip(parameters, momentumBuffers).map { ("\($0.name).momentum", $1) }
    }

    public func loadState(_ tensors: [String: Tensor], stepCount: Int, source: String) throws {
        precondition(stepCount >= 0)
        if momentum != 0 {
            momentumBuffers = try parameters.map { try OptimizerState.slot(tensors, $0, "momentum", source: source) }
        }
        self.stepCount = stepCount
    }
}
