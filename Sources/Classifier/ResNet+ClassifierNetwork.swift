import Models
import NN
import Tensors

/// ResNet is the classifier network of DESIGN §7.
extension ResNet: ClassifierNetwork {
    public func backpropagate(_ dLogits: Tensor) {
        needsInputGradient = false      // nothing upstream of the image needs ∂L/∂x
        _ = backward(dLogits)
    }

    public func featuresAndLogits(_ x: Tensor) -> (features: Tensor, logits: Tensor) {
        let f = features(x)
        return (f, fc.forward(f))
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] { stateDict }

    public func loadState(_ tensors: [String: Tensor]) throws {
        try loadStateDict(tensors, source: "model selection")
    }
}
