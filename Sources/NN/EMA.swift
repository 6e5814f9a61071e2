import Tensors

/// Exponential moving average of parameter values, kept as a separate copy: the live weights are
/// never overwritten, so training continues undisturbed while sampling or saving reads `tensors` (or
/// copies them into a second model with `copy(into:)`).
///
/// update: e ← d·e + (1 − d)·p, computed like PyTorch's `ema.mul_(d).add_(p, alpha=1−d)` in Float32.
/// With `warmup`, d = min(decay, (1 + t)/(10 + t)) where t = number of earlier updates, so the average
/// is not dominated by the random initial weights in early training.
public final class EMA {
    /// The tracked live parameters (read only by `update`).
    public let parameters: [Parameter]
    /// The averaged values, aligned with `parameters`.
    public private(set) var values: [Tensor]
    /// Number of `update` calls so far (drives the warm-up).
    public private(set) var updateCount = 0

    /// Starts the average at the parameters' current values.
    public init(parameters: [Parameter]) {
        var seen = Set<String>()
        for p in parameters { precondition(seen.insert(p.name).inserted, "EMA: duplicate parameter name '\(p.name)'") }
        self.parameters = parameters
        values = parameters.map(\.value)
    }

    /// The decay the next `update(decay:warmup:)` call will use.
    public func effectiveDecay(_ decay: Float, warmup: Bool) -> Float {
        guard warmup else { return decay }
        let t = Double(updateCount)
        return Swift.min(decay, Float((1 + t) / (10 + t)))
    }

    /// Folds the current parameter values into the average; returns the decay used.
    @discardableResult
    public func update(decay: Float, warmup: Bool = false) -> Float {
        precondition(decay >= 0 && decay <= 1, "EMA: decay must be in [0, 1]")
        let d = effectiveDecay(decay, warmup: warmup)
        let w = Float(1 - Double(d))
        for (k, p) in parameters.enumerated() {
            precondition(p.shape == values[k].shape, "EMA: parameter '\(p.name)' changed shape")
            let n = p.value.count
            p.value.withUnsafeBufferPointer { pb in
                values[k].withUnsafeMutableBufferPointer { eb in
                    let x = pb.baseAddress!, e = eb.baseAddress!
                    Parallel.chunks(n) { r in for i in r { e[i] = e[i] * d + x[i] * w } }
                }
            }
        }
        updateCount += 1
        return d
    }

    /// The averaged tensors under the parameters' own names (for sampling or an inference checkpoint).
    public var tensors: [(name: String, tensor: Tensor)] {
        zip(parameters, values).map { ($0.name, $1) }
    }

    /// The averaged value of the parameter called `name`.
    public func value(named name: String) -> Tensor? {
        parameters.firstIndex { $0.name == name }.map { values[$0] }
    }

    /// Writes the averaged values into `targets` (matched by name, e.g. a second model instance used
    /// for sampling). Every target must have a tracked counterpart of the same shape.
    public func copy(into targets: [Parameter]) {
        var index: [String: Int] = [:]
        for (k, p) in parameters.enumerated() { index[p.name] = k }
        for t in targets {
            guard let k = index[t.name] else { preconditionFailure("EMA: no average for parameter '\(t.name)'") }
            precondition(t.shape == values[k].shape, "EMA: '\(t.name)' is \(t.shape), average is \(values[k].shape)")
            t.value = values[k]
        }
    }

    /// Restores averages and update count (from a checkpoint); `source` names the file in errors.
    public func load(_ tensors: [String: Tensor], prefix: String = "", updateCount: Int, source: String) throws {
        var restored: [Tensor] = []
        for p in parameters {
            let key = prefix + p.name
            guard let t = tensors[key] else {
                throw SafeTensorsError(source: source, tensor: key, reason: "EMA weight is missing")
            }
            guard t.shape == p.shape else {
                throw SafeTensorsError(source: source, tensor: key, reason: "shape \(t.shape), expected \(p.shape)")
            }
            restored.append(t)
        }
        values = restored
        self.updateCount = updateCount
    }
}
