import Tensors

// Conditioning vectors of Ktena et al.: the label vector (one-hot, multi-hot or soft) concatenated with a
// one-hot block per attribute chosen in `ddpm.cond`, in the order listed there. Missing information is
// zeros: unlabeled rows (split `unlabeled`, unknown labels) have an all-zero label block (an uncertain
// multi-label entry is not missing: it is conditioned on as 0.5, see `MultiLabelCell`), unknown
// attribute values an all-zero attribute block. An all-zero vector is the "null" condition of
// classifier-free guidance; training zeroes whole vectors with probability `cond_drop` to learn it.

/// Why a conditioning layout or vector could not be built; `field` names the manifest key at fault.
public struct ConditioningError: Error, CustomStringConvertible, Equatable {
    public var field: String
    public var reason: String
    public var description: String { "\(field): \(reason)" }
}

/// Column layout of conditioning vectors: one block per `ddpm.cond` entry.
public struct ConditioningLayout: Sendable, Codable, Equatable {
    /// One block of columns: `label` (the classes) or an attribute (its values), one column per value.
    public struct Block: Sendable, Codable, Equatable {
        /// "label" or the attribute's column name.
        public var name: String
        /// Class names or attribute values, in column order.
        public var values: [String]
        /// First column of the block.
        public var offset: Int
        /// Columns `offset ..< offset + values.count`.
        public var columns: Range<Int> { offset..<(offset + values.count) }
    }

    /// The name that selects the label block in `ddpm.cond`.
    public static let labelName = "label"

    /// Blocks in vector order.
    public let blocks: [Block]
    /// Total number of columns F.
    public let width: Int

    /// Builds the layout for `cond` (e.g. ["label", "skin_tone"]) given the class names and each attribute's
    /// values (in a fixed order, e.g. sorted). Errors name `field` (the manifest key, by default `pipeline.ddpm.cond`).
    public init(cond: [String], classes: [String], attributeValues: [String: [String]],
                field: String = "pipeline.ddpm.cond") throws {
        var blocks: [Block] = []
        var offset = 0
        var seen = Set<String>()
        for name in cond {
            guard seen.insert(name).inserted else {
                throw ConditioningError(field: field, reason: "'\(name)' is listed twice")
            }
            let values: [String]
            if name == ConditioningLayout.labelName {
                values = classes
            } else if let v = attributeValues[name] {
                values = v
            } else {
                let known = ([ConditioningLayout.labelName] + attributeValues.keys.sorted()).joined(separator: ", ")
                throw ConditioningError(field: field, reason: "unknown entry '\(name)', expected one of: \(known)")
            }
            guard !values.isEmpty else {
                throw ConditioningError(field: field, reason: "'\(name)' has no values to condition on")
            }
            blocks.append(Block(name: name, values: values, offset: offset))
            offset += values.count
        }
        self.blocks = blocks
        self.width = offset
    }

    /// The block called `name`, if conditioned on.
    public func block(_ name: String) -> Block? { blocks.first { $0.name == name } }

    /// A one-hot label vector over `count` classes (helper for single-label datasets).
    public static func oneHot(_ index: Int, count: Int) -> [Float] {
        precondition(index >= 0 && index < count, "oneHot: \(index) outside 0..<\(count)")
        var v = [Float](repeating: 0, count: count)
        v[index] = 1
        return v
    }

    /// The conditioning vector for one example. `label`: per-class weights (one-hot, multi-hot or soft;
    /// `nil` = unlabeled → zeros). `attributes`: value index per attribute name (absent = unknown → zeros).
    public func encode(label: [Float]?, attributes: [String: Int]) -> [Float] {
        var v = [Float](repeating: 0, count: width)
        for b in blocks {
            if b.name == ConditioningLayout.labelName {
                guard let label else { continue }
                precondition(label.count == b.values.count, "encode: label has \(label.count) entries, expected \(b.values.count)")
                for (j, w) in label.enumerated() { v[b.offset + j] = w }
            } else if let index = attributes[b.name] {
                precondition(index >= 0 && index < b.values.count, "encode: \(b.name) value \(index) outside 0..<\(b.values.count)")
                v[b.offset + index] = 1
            }
        }
        return v
    }

    /// `encode` with attribute values given by name; an unknown value is an error naming the attribute.
    public func encode(label: [Float]?, attributeNames: [String: String]) throws -> [Float] {
        var indices: [String: Int] = [:]
        for (name, value) in attributeNames {
            guard let b = block(name) else { continue }
            guard let k = b.values.firstIndex(of: value) else {
                throw ConditioningError(field: name, reason: "value '\(value)' is not one of: \(b.values.joined(separator: ", "))")
            }
            indices[name] = k
        }
        return encode(label: label, attributes: indices)
    }

    /// A copy of `vector` with attribute `name` set to value index `value` (same label, other blocks
    /// unchanged) — the "same label, different attribute" vector of fair sampling and img2img.
    public func replacing(_ name: String, with value: Int, in vector: [Float]) -> [Float] {
        guard let b = block(name) else { preconditionFailure("replacing: not conditioned on '\(name)'") }
        precondition(vector.count == width && value >= 0 && value < b.values.count, "replacing: bad vector or value")
        var v = vector
        for c in b.columns { v[c] = 0 }
        v[b.offset + value] = 1
        return v
    }

    /// The value index of attribute `name` in `vector` (nil when its block is all zeros).
    public func attributeValue(_ name: String, in vector: [Float]) -> Int? {
        guard let b = block(name) else { return nil }
        var best: Int? = nil
        for (j, c) in b.columns.enumerated() where vector[c] > 0 && (best == nil || vector[c] > vector[b.offset + best!]) { best = j }
        return best
    }

    /// Human-readable column map, e.g. `label[0..<3]: a, b, c; skin_tone[3..<5]: dark, light`.
    public var summary: String {
        blocks.map { "\($0.name)[\($0.offset)..<\($0.offset + $0.values.count)]: \($0.values.joined(separator: ", "))" }
            .joined(separator: "; ")
    }

    /// Stacks per-example vectors into an [N, width] tensor.
    public func batch(_ vectors: [[Float]]) -> Tensor {
        for v in vectors { precondition(v.count == width, "batch: vector of \(v.count) entries, expected \(width)") }
        return Tensor(shape: [vectors.count, width], data: vectors.flatMap { $0 })
    }
}

/// Classifier-free-guidance dropout of conditioning vectors during training.
public enum ConditionDropout {
    /// Zeroes columns `columns` (default: all) of each row of `cond` [N, F] independently with probability
    /// `probability`, drawing one uniform per row from `rng`. Returns which rows were dropped.
    @discardableResult
    public static func apply(_ cond: inout Tensor, probability: Float, columns: Range<Int>? = nil, rng: inout RNG) -> [Bool] {
        precondition(cond.rank == 2, "ConditionDropout: cond must be [N, F], got \(cond.shape)")
        let n = cond.shape[0], f = cond.shape[1]
        let cols = columns ?? 0..<f
        var dropped = [Bool](repeating: false, count: n)
        for i in 0..<n where rng.uniform() < probability {
            dropped[i] = true
            for c in cols { cond.data[i * f + c] = 0 }
        }
        return dropped
    }
}
