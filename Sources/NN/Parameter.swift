import Tensors

/// A trainable tensor and its gradient, with a stable dotted name (the safetensors key, matching
/// the PyTorch `state_dict` name of the same weight, e.g. `down.0.0.c1.weight`).
///
/// A reference type so that layers, optimizers, EMA and checkpoint code all see the same storage.
/// Backward passes *accumulate* into `grad` (`+=`); the training loop calls `zeroGrad()` per step.
public final class Parameter: @unchecked Sendable {
    public var name: String
    public var value: Tensor
    public var grad: Tensor

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
    }

    public var shape: [Int] { value.shape }

    public func zeroGrad() { grad.zero() }
}
