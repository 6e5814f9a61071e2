import NN
import Tensors

/// A network that predicts the diffusion target (ε or v, see `Prediction`) from a noisy batch.
///
/// `x` is [N, C, H, W] — for a cascaded upsampler C already includes the upsampled low-res channels —
/// `t` holds one timestep per sample, `cond` is [N, F] (F = `condDim`, may be 0). The output has the
/// shape of the *noisy image* part of `x` (`outChannels` channels). `predict` is inference only: it must
/// not disturb state a later `backward` relies on, and each sample's output must depend only on that
/// sample's inputs (no batch statistics), so batch composition never changes a sample.
public protocol Denoiser: AnyObject {
    /// Width F of the conditioning vector the network expects.
    var condDim: Int { get }
    /// Channels of the predicted target (the image channels).
    var outChannels: Int { get }
    /// Forward pass without caching for backward.
    func predict(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor
}

/// A `Denoiser` that can be trained: `forward` caches activations, `backward` accumulates (`+=`)
/// ∂L/∂θ into each `Parameter.grad` (the NN layer convention), given ∂L/∂output.
public protocol TrainableDenoiser: Denoiser {
    /// The trainable parameters in a fixed order (names are checkpoint keys).
    var parameters: [Parameter] { get }
    /// Training-mode forward pass; caches what `backward` needs.
    func forward(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor
    /// Backward of the last `forward`: accumulates parameter gradients.
    func backward(_ dy: Tensor)
}

/// Batch helpers shared by the samplers, the trainer and the upsampler.
public enum Batch {
    /// Concatenates [N, Ca, H, W] and [N, Cb, H, W] along channels.
    public static func concatChannels(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rank == 4 && b.rank == 4 && a.shape[0] == b.shape[0] && a.shape[2] == b.shape[2] && a.shape[3] == b.shape[3],
                     "concatChannels: \(a.shape) and \(b.shape)")
        let n = a.shape[0], hw = a.shape[2] * a.shape[3]
        let sa = a.shape[1] * hw, sb = b.shape[1] * hw
        var out = Tensor(zeros: [n, a.shape[1] + b.shape[1], a.shape[2], a.shape[3]])
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { op in
            for i in 0..<n {
                let o = i * (sa + sb)
                for j in 0..<sa { op[o + j] = ap[i * sa + j] }
                for j in 0..<sb { op[o + sa + j] = bp[i * sb + j] }
            }
        } } }
        return out
    }

    /// Stacks two batches with the same trailing shape along dimension 0.
    public static func stack(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(Array(a.shape.dropFirst()) == Array(b.shape.dropFirst()), "stack: \(a.shape) and \(b.shape)")
        var shape = a.shape
        shape[0] += b.shape[0]
        return Tensor(shape: shape, data: a.data + b.data)
    }

    /// Rows `range` of a batch (dimension 0).
    public static func slice(_ x: Tensor, _ range: Range<Int>) -> Tensor {
        let m = x.count / max(x.shape[0], 1)
        var shape = x.shape
        shape[0] = range.count
        return Tensor(shape: shape, data: Array(x.data[(range.lowerBound * m)..<(range.upperBound * m)]))
    }

    /// Samples `indices` of a batch, in that order.
    public static func gather(_ x: Tensor, _ indices: [Int]) -> Tensor {
        let m = x.count / max(x.shape[0], 1)
        var shape = x.shape
        shape[0] = indices.count
        var out = [Float](repeating: 0, count: indices.count * m)
        x.withUnsafeBufferPointer { xp in
            for (k, i) in indices.enumerated() {
                precondition(i >= 0 && i < x.shape[0], "gather: index \(i) of \(x.shape)")
                for j in 0..<m { out[k * m + j] = xp[i * m + j] }
            }
        }
        return Tensor(shape: shape, data: out)
    }
}
