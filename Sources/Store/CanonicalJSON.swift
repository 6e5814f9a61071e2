import Foundation
import Text

/// A JSON document as a value: what run.json stores for the manifest and resolved config, and what
/// stage keys hash. Numbers are Double (integers up to 2^53 are exact).
public enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Converts any Encodable (e.g. a config struct) into a JSON value, through JSONEncoder.
    public static func from<T: Encodable>(_ value: T) throws -> JSONValue {
        let data = try JSONEncoder().encode(value)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Parses JSON bytes.
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace, strings escaped by
/// `UntrustedText.jsonString` (`\"`, `\\`, controls, bidi controls and U+2028/9 escaped; everything
/// else as raw UTF-8), numbers in their shortest round-trip form (integral values without a fraction: `3`, not `3.0`).
/// The same value always gives the same bytes, which is what stage keys need.
public enum CanonicalJSON {
    /// Canonical text of a value. NaN and infinities have no JSON form and are an error.
    public static func encode(_ value: JSONValue) throws -> String {
        var out = ""
        try write(value, into: &out)
        return out
    }

    static func write(_ value: JSONValue, into out: inout String) throws {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += try number(d)
        case .string(let s): string(s, into: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                try write(v, into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            let keys = o.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, k) in keys.enumerated() {
                if i > 0 { out += "," }
                string(k, into: &out)
                out += ":"
                try write(o[k]!, into: &out)
            }
            out += "}"
        }
    }

    /// Shortest round-trip decimal form (Swift's `description`, which is valid JSON for finite values).
    static func number(_ d: Double) throws -> String {
        guard d.isFinite else {
            throw StoreError(.invalid, "canonical JSON: \(d) is not a finite number")
        }
        // Integral values print without a fraction (Int64 holds every integral Double below 1e18 exactly).
        if d == d.rounded(), abs(d) < 1e18 { return String(Int64(d)) }
        let text = d.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    static func string(_ s: String, into out: inout String) {
        UntrustedText.appendJSONString(s, to: &out)
    }
}
