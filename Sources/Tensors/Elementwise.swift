/// Element-wise tensor arithmetic used by the layers (residual adds, gradient sums).
/// Every kernel splits work into contiguous chunks, so results do not depend on the thread count.
public enum Elementwise {
    /// a + b (same shape).
    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
        var out = a
        addInPlace(&out, b)
        return out
    }

    /// a += b (same element count).
    public static func addInPlace(_ a: inout Tensor, _ b: Tensor) {
        precondition(a.count == b.count, "addInPlace: \(a.shape) vs \(b.shape)")
        let n = a.count
        b.withUnsafeBufferPointer { bp in
            a.withUnsafeMutableBufferPointer { ap in
                let pa = ap.baseAddress!, pb = bp.baseAddress!
                Parallel.chunks(n, minWork: 1 << 17) { r in
                    for i in r { pa[i] += pb[i] }
                }
            }
        }
    }

    /// a += alpha · b.
    public static func addScaledInPlace(_ a: inout Tensor, _ b: Tensor, alpha: Float) {
        precondition(a.count == b.count, "addScaledInPlace: \(a.shape) vs \(b.shape)")
        let n = a.count
        b.withUnsafeBufferPointer { bp in
            a.withUnsafeMutableBufferPointer { ap in
                let pa = ap.baseAddress!, pb = bp.baseAddress!
                Parallel.chunks(n, minWork: 1 << 17) { r in
                    for i in r { pa[i] += alpha * pb[i] }
                }
            }
        }
    }
}
