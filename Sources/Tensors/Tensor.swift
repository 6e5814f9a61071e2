/// A dense Float32 tensor: contiguous, row-major (images are NCHW), owned storage.
///
/// `Tensor` is a value type over `[Float]` (copy-on-write), so it is `Sendable` and cheap to pass
/// around; kernels reach the storage through `withUnsafe…Pointer` and never copy it.
public struct Tensor: Sendable, Equatable {
    /// Extent of each dimension, outermost first (e.g. `[N, C, H, W]`).
    public private(set) var shape: [Int]
    /// The elements in row-major order; `data.count == shape.product`.
    public var data: [Float]

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: Tensor.count(of: shape))
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: value, count: Tensor.count(of: shape))
    }

    /// Wraps existing values; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(data.count == Tensor.count(of: shape),
                     "Tensor: \(data.count) values do not fill shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// Number of elements.
    @inlinable public var count: Int { data.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The same values under another shape with the same element count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Changes the shape in place; the element count must not change.
    public mutating func reshape(_ newShape: [Int]) {
        precondition(Tensor.count(of: newShape) == data.count, "reshape \(shape) → \(newShape)")
        shape = newShape
    }

    /// Sets every element to zero, keeping the storage.
    public mutating func zero() {
        data.withUnsafeMutableBufferPointer { p in
            p.update(repeating: 0)
        }
    }

    /// Product of the extents (1 for a scalar shape `[]`).
    @inlinable public static func count(of shape: [Int]) -> Int {
        var n = 1
        for d in shape { precondition(d >= 0, "negative extent in \(shape)"); n *= d }
        return n
    }

    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeBufferPointer(body)
    }

    @inlinable public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeMutableBufferPointer(body)
    }

    /// Element at a multi-index (slow; for tests and debugging).
    public subscript(index: Int...) -> Float {
        get { data[flatIndex(index)] }
        set { data[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }
}
