import Foundation

/// A validator for the subset of JSON Schema (draft 2020-12) that docs/metrics.schema.json uses:
/// type (a name or a list; no "boolean"), const, enum, minimum, maximum, exclusiveMinimum/Maximum, properties,
/// required, additionalProperties (bool or schema),
/// patternProperties, items, anyOf, oneOf and local `$ref` ("#/$defs/…"). Unknown keywords (title,
/// description, $schema, $id) are annotations and ignored. Works on Foundation JSON (`JSONSerialization`).
struct SchemaValidator {
    let root: [String: Any]

    /// Violations of `schema` (default: the root) by `instance`, each naming its JSON path.
    func errors(_ instance: Any, schema: [String: Any]? = nil, path: String = "$") -> [String] {
        let s = schema ?? root
        var out = [String]()
        if let ref = s["$ref"] as? String {
            guard let target = resolve(ref) else { return ["\(path): unresolvable $ref \(ref)"] }
            out += errors(instance, schema: target, path: path)
        }
        if let types = s["type"] {
            let names = (types as? [String]) ?? [types as! String]
            if !names.contains(where: { matches(instance, type: $0) }) {
                out.append("\(path): expected \(names.joined(separator: " or ")), got \(describe(instance))")
                return out
            }
        }
        if let c = s["const"], !sameJSON(c, instance) { out.append("\(path): expected const \(c)") }
        if let e = s["enum"] as? [Any], !e.contains(where: { sameJSON($0, instance) }) {
            out.append("\(path): expected one of \(e)")
        }
        if let minimum = (s["minimum"] as? NSNumber)?.doubleValue, let v = number(instance), v < minimum {
            out.append("\(path): \(v) below minimum \(minimum)")
        }
        if let maximum = (s["maximum"] as? NSNumber)?.doubleValue, let v = number(instance), v > maximum {
            out.append("\(path): \(v) above maximum \(maximum)")
        }
        if let bound = (s["exclusiveMinimum"] as? NSNumber)?.doubleValue, let v = number(instance), v <= bound {
            out.append("\(path): \(v) not above exclusive minimum \(bound)")
        }
        if let bound = (s["exclusiveMaximum"] as? NSNumber)?.doubleValue, let v = number(instance), v >= bound {
            out.append("\(path): \(v) not below exclusive maximum \(bound)")
        }
        if let object = instance as? [String: Any] {
            let properties = s["properties"] as? [String: Any] ?? [:]
            let patterns = (s["patternProperties"] as? [String: Any] ?? [:]).map {
                (try! NSRegularExpression(pattern: $0.key), $0.value as! [String: Any])
            }
            for key in (s["required"] as? [String] ?? []) where object[key] == nil {
                out.append("\(path): missing required '\(key)'")
            }
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                let childPath = path + "." + key
                var matched = false
                if let p = properties[key] as? [String: Any] {
                    matched = true; out += errors(value, schema: p, path: childPath)
                }
                for (regex, p) in patterns
                where regex.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) != nil {
                    matched = true; out += errors(value, schema: p, path: childPath)
                }
                if matched { continue }
                let additional = s["additionalProperties"]
                if let p = additional as? [String: Any] {
                    out += errors(value, schema: p, path: childPath)
                } else if let a = additional, (a as? Bool) == false || (a as? NSNumber)?.boolValue == false {
                    out.append("\(childPath): property not allowed")
                }
            }
        }
        if let array = instance as? [Any], let items = s["items"] as? [String: Any] {
            for (i, item) in array.enumerated() { out += errors(item, schema: items, path: "\(path)[\(i)]") }
        }
        if let anyOf = s["anyOf"] as? [[String: Any]],
           !anyOf.contains(where: { errors(instance, schema: $0, path: path).isEmpty }) {
            out.append("\(path): matches none of anyOf")
        }
        if let oneOf = s["oneOf"] as? [[String: Any]] {
            let n = oneOf.filter { errors(instance, schema: $0, path: path).isEmpty }.count
            if n != 1 { out.append("\(path): matches \(n) of oneOf (expected exactly 1)") }
        }
        return out
    }

    /// Follows "#/a/b" inside the root document.
    func resolve(_ ref: String) -> [String: Any]? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: Any = root
        for part in ref.dropFirst(2).split(separator: "/") {
            guard let o = node as? [String: Any], let next = o[String(part)] else { return nil }
            node = next
        }
        return node as? [String: Any]
    }

    /// metrics JSON has no booleans, so every NSNumber counts as a number ("boolean" is not supported).
    private func number(_ v: Any) -> Double? { (v as? NSNumber)?.doubleValue }

    private func matches(_ v: Any, type: String) -> Bool {
        switch type {
        case "null": return v is NSNull
        case "object": return v is [String: Any]
        case "array": return v is [Any]
        case "string": return v is String
        case "number": return number(v) != nil
        case "integer": return number(v).map { $0 == $0.rounded() } ?? false
        default: return false
        }
    }

    private func sameJSON(_ a: Any, _ b: Any) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        if let x = a as? String, let y = b as? String { return x == y }
        return a is NSNull && b is NSNull
    }

    private func describe(_ v: Any) -> String {
        switch v {
        case is NSNull: return "null"
        case is String: return "string"
        case is [Any]: return "array"
        case is [String: Any]: return "object"
        default: return "\(v)"
        }
    }
}
