// Yams does not export its libyaml module as a product, but SwiftPM puts it on every client's module
// path; its scanner is the only way to look at the token stream before Yams composes a tree.
import CYaml

extension Manifest {
    /// Deepest nesting of mappings and lists accepted (a real manifest nests 4 deep: `pipeline.ddpm.cond`).
    public static let maxNestingDepth = 8

    /// Checks manifest text at the token level before it is composed into a tree: no anchors (`&a`),
    /// aliases (`*a`) or tags (`!t`), and at most `maxNestingDepth` nested mappings / lists.
    ///
    /// Why: composing follows aliases, so a few hundred bytes of nested aliases (used as mapping keys,
    /// which Yams hashes in full to find duplicates) expand exponentially and hang the caller; deep
    /// nesting makes the recursive composer overflow the stack. libyaml's scanner is linear in the text
    /// and keeps no tree, so this check takes time proportional to the bytes whatever they hold.
    /// Errors name the line (1-based) of the offending token.
    static func checkTokens(_ text: String, file: String) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw DatasetError(.io, file: file, location: "", found: "no memory for the YAML scanner",
                               expected: "a manifest that can be read")
        }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var depth = 0
            while true {
                var token = yaml_token_t()
                guard yaml_parser_scan(&parser, &token) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "unreadable text"
                    throw DatasetError(.notYAML, file: file, location: "line \(parser.problem_mark.line + 1)",
                                       found: "text that is not valid YAML (\(problem))",
                                       expected: "a YAML or JSON mapping of manifest keys")
                }
                defer { yaml_token_delete(&token) }
                let line = "line \(token.start_mark.line + 1)"
                switch token.type {
                case YAML_STREAM_END_TOKEN:
                    return
                case YAML_ANCHOR_TOKEN, YAML_ALIAS_TOKEN:
                    let isAnchor = token.type == YAML_ANCHOR_TOKEN
                    let raw = isAnchor ? token.data.anchor.value : token.data.alias.value
                    let name = raw.map { String(cString: $0) } ?? ""
                    throw DatasetError(.notYAML, file: file, location: line,
                                       found: "a YAML \(isAnchor ? "anchor" : "alias") \(quoted((isAnchor ? "&" : "*") + name))",
                                       expected: "a manifest without anchors or aliases (write each value out)")
                case YAML_TAG_TOKEN:
                    throw DatasetError(.notYAML, file: file, location: line, found: "a YAML tag (\"!…\")",
                                       expected: "a manifest without tags (values are typed by their key)")
                case YAML_BLOCK_SEQUENCE_START_TOKEN, YAML_BLOCK_MAPPING_START_TOKEN,
                     YAML_FLOW_SEQUENCE_START_TOKEN, YAML_FLOW_MAPPING_START_TOKEN:
                    depth += 1
                    guard depth <= maxNestingDepth else {
                        throw DatasetError(.notYAML, file: file, location: line,
                                           found: "mappings or lists nested more than \(maxNestingDepth) deep",
                                           expected: "at most \(maxNestingDepth) levels of nesting")
                    }
                case YAML_BLOCK_END_TOKEN, YAML_FLOW_SEQUENCE_END_TOKEN, YAML_FLOW_MAPPING_END_TOKEN:
                    depth -= 1
                default:
                    break
                }
            }
        }
    }
}
