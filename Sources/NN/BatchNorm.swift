import Tensors

/// 2-D batch normalisation over NCHW, PyTorch `nn.BatchNorm2d` semantics, optionally fused with a ReLU.
///
/// Shapes: x `[N, C, H, W]` → y same shape; weight/bias `[C]` (Parameters, init 1 and 0);
/// buffers running_mean/running_var `[C]` (init 0 and 1) and num_batches_tracked (scalar).
/// Train mode: per-channel batch mean and *biased* variance normalise, then
///   running_mean ← (1−m)·running_mean + m·mean, running_var ← (1−m)·running_var + m·var·M/(M−1)
/// (unbiased, M = N·H·W), num_batches_tracked += 1. Eval mode: the running statistics normalise.
/// Forward caches the input x (shared storage), per-channel mean and 1/√(var+ε) of the statistics used,
/// and — when `fusedReLU` — the output y, whose sign is the ReLU mask in backward.
/// Work is split over channels (`Parallel.forEach`); each channel's sums run in a fixed order, so results
/// do not depend on the thread count.
public final class BatchNorm2d {
    public let channels: Int
    public let eps: Float
    public let momentum: Float
    /// When true, forward returns relu(bn(x)) and backward masks dy by the output's sign.
    public let fusedReLU: Bool
    public let weight: Parameter
    public let bias: Parameter
    /// Parameters in PyTorch `named_parameters()` order.
    public var parameters: [Parameter] { [weight, bias] }
    /// Train mode (batch statistics, running-stat updates) or eval mode (running statistics).
    public var training = true
    public private(set) var runningMean: Tensor
    public private(set) var runningVar: Tensor
    public private(set) var numBatchesTracked: Int = 0

    private let prefix: String
    private var input = Tensor(zeros: [0])
    private var output = Tensor(zeros: [0])
    private var mean: [Float]
    private var invStd: [Float]
    private var cachedTraining = true

    /// `name` is the PyTorch module prefix (e.g. "layers.0.b1").
    public init(name: String, channels: Int, eps: Float = 1e-5, momentum: Float = 0.1, fusedReLU: Bool = false) {
        precondition(channels > 0, "BatchNorm2d \(name): channels must be positive")
        self.prefix = name
        self.channels = channels; self.eps = eps; self.momentum = momentum; self.fusedReLU = fusedReLU
        weight = Parameter(name: name + ".weight", value: Tensor(repeating: 1, shape: [channels]))
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [channels]))
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(repeating: 1, shape: [channels])
        mean = [Float](repeating: 0, count: channels)
        invStd = [Float](repeating: 1, count: channels)
    }

    /// Non-trainable state under PyTorch's `state_dict` names, in state_dict order.
    /// Setting it replaces every buffer (all three names must be present, shapes must match).
    public var buffers: [(name: String, tensor: Tensor)] {
        get {
            [(prefix + ".running_mean", runningMean), (prefix + ".running_var", runningVar),
             (prefix + ".num_batches_tracked", Tensor(shape: [], data: [Float(numBatchesTracked)]))]
        }
        set {
            var dict: [String: Tensor] = [:]
            for (n, t) in newValue { dict[n] = t }
            do { try restoreBuffers(from: dict, source: "<buffers>") } catch { preconditionFailure("\(error)") }
        }
    }

    /// Restores running_mean, running_var and num_batches_tracked from a checkpoint's tensors
    /// (`source` names the file in errors). num_batches_tracked may be stored as a scalar or a 1-element tensor.
    public func restoreBuffers(from tensors: [String: Tensor], source: String) throws {
        func fetch(_ key: String, count: Int) throws -> Tensor {
            guard let t = tensors[prefix + key] else {
                throw LayerStateError(source: source, tensor: prefix + key, problem: "missing")
            }
            guard t.count == count else {
                throw LayerStateError(source: source, tensor: prefix + key,
                                      problem: "has shape \(t.shape), expected \(count == 1 ? "[]" : "[\(count)]")")
            }
            return t
        }
        let rm = try fetch(".running_mean", count: channels)
        let rv = try fetch(".running_var", count: channels)
        let nb = try fetch(".num_batches_tracked", count: 1)
        runningMean = rm.reshaped([channels])
        runningVar = rv.reshaped([channels])
        numBatchesTracked = Int(nb.data[0])
    }

    /// Normalises `x` `[N, C, H, W]` (then ReLU when `fusedReLU`); in train mode also updates the running stats.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == channels,
                     "BatchNorm2d \(prefix): input \(x.shape), expected [N, \(channels), H, W]")
        let n = x.shape[0], hw = x.shape[2] * x.shape[3], c = channels, m = n * hw
        precondition(!training || m > 1, "BatchNorm2d \(prefix): training needs more than one value per channel")
        input = x
        cachedTraining = training
        var y = Tensor(zeros: x.shape)
        var batchVar = [Float](repeating: 0, count: c)
        let train = training, eps = eps, relu = fusedReLU
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
        mean.withUnsafeMutableBufferPointer { meanb in
        invStd.withUnsafeMutableBufferPointer { isb in
        batchVar.withUnsafeMutableBufferPointer { vb in
        weight.value.withUnsafeBufferPointer { wb in
        bias.value.withUnsafeBufferPointer { bb in
        runningMean.withUnsafeBufferPointer { rmb in
        runningVar.withUnsafeBufferPointer { rvb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            Parallel.forEach(c, work: x.count) { ch in
                var mu: Float, variance: Float
                if train {
                    // Two passes (mean, then Σ(x−mean)²) for accuracy; Double across rows.
                    var s = 0.0
                    for i in 0..<n { s += Double(ChannelKernels.sum(xp + (i &* c &+ ch) &* hw, hw)) }
                    mu = Float(s / Double(m))
                    var q = 0.0
                    for i in 0..<n { q += Double(ChannelKernels.sumSquaredDeviation(xp + (i &* c &+ ch) &* hw, hw, mu)) }
                    variance = Float(q / Double(m))
                    vb[ch] = variance
                } else {
                    mu = rmb[ch]; variance = rvb[ch]
                }
                let inv = 1 / (variance + eps).squareRoot()
                meanb[ch] = mu; isb[ch] = inv
                let scale = wb[ch] * inv, shift = bb[ch] - mu * scale
                for i in 0..<n {
                    let off = (i &* c &+ ch) &* hw
                    ChannelKernels.affine(xp + off, yp + off, hw, scale: scale, shift: shift, relu: relu)
                }
            }
        }}}}}}}}}
        if train {
            let unbias = Float(m) / Float(m - 1), mom = momentum
            for ch in 0..<c {
                runningMean.data[ch] = (1 - mom) * runningMean.data[ch] + mom * mean[ch]
                runningVar.data[ch] = (1 - mom) * runningVar.data[ch] + mom * batchVar[ch] * unbias
            }
            numBatchesTracked += 1
        }
        output = relu ? y : Tensor(zeros: [0])
        return y
    }

    /// ∂L/∂x for the cached input; accumulates ∂L/∂weight = Σ dy·x̂ and ∂L/∂bias = Σ dy.
    /// Train mode: dx = (γ·inv/M)·(M·dy − Σdy − x̂·Σdy·x̂); eval mode: dx = γ·inv·dy.
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        precondition(dy.shape == x.shape, "BatchNorm2d \(prefix).backward: dy \(dy.shape), expected \(x.shape)")
        let n = x.shape[0], hw = x.shape[2] * x.shape[3], c = channels, m = n * hw
        var dx = Tensor(zeros: x.shape)
        var dw = [Double](repeating: 0, count: c), db = [Double](repeating: 0, count: c)
        let train = cachedTraining, relu = fusedReLU
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        output.withUnsafeBufferPointer { ob in
        dx.withUnsafeMutableBufferPointer { dxb in
        mean.withUnsafeBufferPointer { meanb in
        invStd.withUnsafeBufferPointer { isb in
        weight.value.withUnsafeBufferPointer { wb in
        dw.withUnsafeMutableBufferPointer { dwb in
        db.withUnsafeMutableBufferPointer { dbb in
            let xp = xb.baseAddress!, dyp = dyb.baseAddress!, dxp = dxb.baseAddress!
            let op = ob.baseAddress
            Parallel.forEach(c, work: x.count) { ch in
                let mu = meanb[ch], inv = isb[ch]
                // dx first holds the (ReLU-masked) upstream gradient, then is rewritten in place.
                var sdy = 0.0, sdyx = 0.0
                for i in 0..<n {
                    let off = (i &* c &+ ch) &* hw
                    if relu {
                        ChannelKernels.mask(dyp + off, by: op! + off, into: dxp + off, hw)
                    } else {
                        (dxp + off).update(from: dyp + off, count: hw)
                    }
                    sdy += Double(ChannelKernels.sum(dxp + off, hw))
                    sdyx += Double(ChannelKernels.dotDeviation(dxp + off, xp + off, hw, mu))
                }
                dbb[ch] = sdy
                dwb[ch] = sdyx * Double(inv)
                let k = wb[ch] * inv
                if train {
                    let a = Float(sdy / Double(m)), b = Float(sdyx * Double(inv) / Double(m)) * inv
                    // dx = k·(g − a − (x−μ)·b), with x̂ = (x−μ)·inv folded into b.
                    for i in 0..<n {
                        let off = (i &* c &+ ch) &* hw
                        ChannelKernels.normBackward(dxp + off, xp + off, hw, k: k, a: a, b: b, mean: mu)
                    }
                } else {
                    for i in 0..<n {
                        let off = (i &* c &+ ch) &* hw
                        ChannelKernels.scale(dxp + off, hw, k)
                    }
                }
            }
        }}}}}}}}}
        for ch in 0..<c {
            weight.grad.data[ch] += Float(dw[ch])
            bias.grad.data[ch] += Float(db[ch])
        }
        return dx
    }
}

/// A checkpoint tensor that a layer's state cannot be restored from.
public struct LayerStateError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var tensor: String
    public var problem: String
    public init(source: String, tensor: String, problem: String) {
        self.source = source; self.tensor = tensor; self.problem = problem
    }
    public var description: String { "\(source): tensor \"\(tensor)\" \(problem)" }
}

/// Row kernels over one contiguous run of a channel (`count` values). Reductions use SIMD16 lanes in
/// Float (lane order fixed, so deterministic); callers combine rows in Double.
@usableFromInline enum ChannelKernels {
    typealias V = SIMD16<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// Σ p[i].
    @inline(__always) static func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = V(repeating: 0), i = 0
        while i &+ 16 <= count { acc += load(p + i); i &+= 16 }
        var s = acc.sum()
        while i < count { s += p[i]; i &+= 1 }
        return s
    }

    @inline(__always) static func sum(_ p: UnsafeMutablePointer<Float>, _ count: Int) -> Float {
        sum(UnsafePointer(p), count)
    }

    /// Σ (p[i] − mean)².
    @inline(__always) static func sumSquaredDeviation(_ p: UnsafePointer<Float>, _ count: Int, _ mean: Float) -> Float {
        var acc = V(repeating: 0), i = 0
        let mv = V(repeating: mean)
        while i &+ 16 <= count { let d = load(p + i) - mv; acc += d * d; i &+= 16 }
        var s = acc.sum()
        while i < count { let d = p[i] - mean; s += d * d; i &+= 1 }
        return s
    }

    /// Σ g[i]·(x[i] − mean).
    @inline(__always) static func dotDeviation(_ g: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                               _ count: Int, _ mean: Float) -> Float {
        var acc = V(repeating: 0), i = 0
        let mv = V(repeating: mean)
        while i &+ 16 <= count { acc += load(g + i) * (load(x + i) - mv); i &+= 16 }
        var s = acc.sum()
        while i < count { s += g[i] * (x[i] - mean); i &+= 1 }
        return s
    }

    /// y = x·scale + shift, then max(·, 0) when `relu`.
    @inline(__always) static func affine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
                                         scale: Float, shift: Float, relu: Bool) {
        if relu {
            for i in 0..<count { let v = x[i] * scale + shift; y[i] = v > 0 ? v : 0 }
        } else {
            for i in 0..<count { y[i] = x[i] * scale + shift }
        }
    }

    /// out = g where y > 0, else 0 (ReLU backward given the ReLU's output).
    @inline(__always) static func mask(_ g: UnsafePointer<Float>, by y: UnsafePointer<Float>,
                                       into out: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { out[i] = y[i] > 0 ? g[i] : 0 }
    }

    /// g ← k·(g − a − (x − mean)·b), in place.
    @inline(__always) static func normBackward(_ g: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int,
                                               k: Float, a: Float, b: Float, mean: Float) {
        for i in 0..<count { g[i] = k * (g[i] - a - (x[i] - mean) * b) }
    }

    /// g ← k·g, in place.
    @inline(__always) static func scale(_ g: UnsafeMutablePointer<Float>, _ count: Int, _ k: Float) {
        for i in 0..<count { g[i] *= k }
    }
}
