import Foundation

/// Learning rate as a function of the (0-based) optimizer step.
///
/// `warmupCosine`: linear warm-up over the first `warmupSteps` steps, lr = peak·(step+1)/warmupSteps
/// (so step 0 already learns), then cosine decay from `peak` to `floor` over the remaining steps,
/// lr = floor + (peak − floor)·½(1 + cos(π·progress)), progress = (step − warmupSteps)/(totalSteps − warmupSteps)
/// clamped to [0, 1]; steps past `totalSteps` stay at `floor`.
public struct LRSchedule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case constant(Float)
        case warmupCosine(peak: Float, warmupSteps: Int, totalSteps: Int, floor: Float)
    }
    public var kind: Kind

    public init(_ kind: Kind) {
        if case let .warmupCosine(peak, warmup, total, floor) = kind {
            precondition(warmup >= 0 && total >= warmup, "LRSchedule: need 0 ≤ warmupSteps ≤ totalSteps")
            precondition(peak >= 0 && floor >= 0 && floor <= peak, "LRSchedule: need 0 ≤ floor ≤ peak")
        }
        self.kind = kind
    }

    /// A constant learning rate.
    public static func constant(_ lr: Float) -> LRSchedule { LRSchedule(.constant(lr)) }

    /// Linear warm-up then cosine decay to `floor`.
    public static func warmupCosine(peak: Float, warmupSteps: Int, totalSteps: Int, floor: Float = 0) -> LRSchedule {
        LRSchedule(.warmupCosine(peak: peak, warmupSteps: warmupSteps, totalSteps: totalSteps, floor: floor))
    }

    /// The learning rate for 0-based `step`.
    public func lr(at step: Int) -> Float {
        precondition(step >= 0, "LRSchedule: negative step \(step)")
        switch kind {
        case let .constant(lr):
            return lr
        case let .warmupCosine(peak, warmup, total, floor):
            if step < warmup { return Float(Double(peak) * Double(step + 1) / Double(warmup)) }
            let span = total - warmup
            let progress = span <= 0 ? 1.0 : Swift.min(1.0, Double(step - warmup) / Double(span))
            let cosine = 0.5 * (1 + cos(Double.pi * progress))
            return Float(Double(floor) + (Double(peak) - Double(floor)) * cosine)
        }
    }
}
