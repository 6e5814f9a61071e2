import Foundation
import Testing
@testable import Fairness

/// Locating and decoding the committed fixtures in Tests/Fixtures/metrics.
enum Fixture {
    /// Tests/Fixtures/metrics, found relative to this source file.
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/metrics")

    /// The package root (the folder holding Package.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Parsed JSON of a fixture file (Foundation types).
    static func json(_ name: String) throws -> Any {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }
}

/// Field access on decoded Foundation JSON, failing the test on a shape mismatch.
extension Dictionary where Key == String, Value == Any {
    func ints(_ key: String) -> [Int] { (self[key] as! [Any]).map { ($0 as! NSNumber).intValue } }
    func doubles(_ key: String) -> [Double] { (self[key] as! [Any]).map { ($0 as! NSNumber).doubleValue } }
    func strings(_ key: String) -> [String] { (self[key] as! [Any]).map { $0 as! String } }
    func object(_ key: String) -> [String: Any] { self[key] as! [String: Any] }
    /// A number or JSON null (nil).
    func optionalDouble(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
    func bools(_ key: String) -> [Bool] { (self[key] as! [Any]).map { ($0 as! NSNumber).boolValue } }
    func int(_ key: String) -> Int { (self[key] as! NSNumber).intValue }
}

/// Converts Foundation JSON to `JSONValue` (numbers become `.number`).
func jsonValue(_ any: Any) -> JSONValue {
    switch any {
    case is NSNull: return .null
    case let s as String: return .string(s)
    case let n as NSNumber: return .number(n.doubleValue)  // the schema has no booleans
    case let a as [Any]: return .array(a.map(jsonValue))
    case let o as [String: Any]: return .object(o.keys.sorted().map { JSONMember($0, jsonValue(o[$0]!)) })
    default: return .null
    }
}

/// Expects `a` and `b` equal within `tolerance`, both defined or both nil.
func expectClose(_ a: Double?, _ b: Double?, _ tolerance: Double = 1e-9, _ what: @autoclosure () -> String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    switch (a, b) {
    case (nil, nil): return
    case let (x?, y?):
        #expect(abs(x - y) <= tolerance, "\(what()): \(x) vs \(y)", sourceLocation: sourceLocation)
    default:
        Issue.record("\(what()): \(String(describing: a)) vs \(String(describing: b))", sourceLocation: sourceLocation)
    }
}

/// Recursively compares a produced JSON tree with a fixture (Foundation JSON): same object keys, same
/// nulls, numbers within `tolerance`. Records one issue per difference, naming its path.
func expectJSONMatches(_ actual: JSONValue, _ expected: Any, tolerance: Double = 1e-9, path: String = "$",
                       sourceLocation: SourceLocation = #_sourceLocation) {
    switch (actual, expected) {
    case (.null, is NSNull): return
    case (.object(let members), let e as [String: Any]):
        let keys = Set(members.map(\.key))
        if keys != Set(e.keys) {
            Issue.record("\(path): keys \(keys.sorted()) vs expected \(e.keys.sorted())", sourceLocation: sourceLocation)
            return
        }
        for m in members {
            expectJSONMatches(m.value, e[m.key]!, tolerance: tolerance, path: path + "." + m.key, sourceLocation: sourceLocation)
        }
    case (.array(let items), let e as [Any]):
        if items.count != e.count { Issue.record("\(path): \(items.count) items vs \(e.count)", sourceLocation: sourceLocation); return }
        for (i, item) in items.enumerated() {
            expectJSONMatches(item, e[i], tolerance: tolerance, path: "\(path)[\(i)]", sourceLocation: sourceLocation)
        }
    case (.string(let s), let e as String):
        #expect(s == e, "\(path)", sourceLocation: sourceLocation)
    case (_, let e as NSNumber) where actual.doubleValue != nil:
        let a = actual.doubleValue!
        #expect(abs(a - e.doubleValue) <= tolerance, "\(path): \(a) vs \(e.doubleValue)", sourceLocation: sourceLocation)
    default:
        Issue.record("\(path): \(actual) vs expected \(expected)", sourceLocation: sourceLocation)
    }
}
