import Models
import NN
import Tensors

/// Makes the engine's conditional `UNet` a `TrainableDenoiser` (timesteps passed as Float, as the UNet's
/// sinusoidal embedding takes them).
///
/// `predict` runs the UNet's inference forward: the same arithmetic as training (the same bytes), but no
/// activations are kept for a backward and the caches of a pending training `forward` are left alone.
public final class UNetDenoiser: TrainableDenoiser {
    public let unet: UNet

    public init(_ unet: UNet) { self.unet = unet }

    /// A UNet built from `config` with PyTorch-default initialisation from `seed`.
    public convenience init(config: UNetConfig, seed: UInt64) {
        var rng = RNG(seed: seed)
        self.init(UNet(config, rng: &rng))
    }

    public var condDim: Int { unet.config.condDim }
    public var outChannels: Int { unet.config.outChannels }
    public var parameters: [Parameter] { unet.parameters }

    public func forward(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor {
        unet.forward(x, t: t.map { Float($0) }, cond: cond)
    }

    public func predict(_ x: Tensor, t: [Int], cond: Tensor) -> Tensor {
        unet.forward(x, t: t.map { Float($0) }, cond: cond, inference: true)
    }

    public func backward(_ dy: Tensor) { unet.backward(dy) }
}
