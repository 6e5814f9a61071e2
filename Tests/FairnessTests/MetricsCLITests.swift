import Foundation
import Testing
@testable import Fairness

/// Runs the built `fairgen` binary (beside the test bundle, or in .build/release) as a subprocess.
func runFairgen(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let candidates = [
        Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("fairgen"),
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("fairgen"),
        Fixture.packageRoot.appendingPathComponent(".build/release/fairgen"),
    ].compactMap { $0 }
    guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CLIError("fairgen binary not found (looked in \(candidates.map(\.path))); build the package first")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@Suite(.serialized) struct MetricsCLITests {
    let csv = Fixture.directory.appendingPathComponent("predictions_small.csv").path

    func schemaValidator() throws -> SchemaValidator {
        let url = Fixture.packageRoot.appendingPathComponent("docs/metrics.schema.json")
        return SchemaValidator(root: try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any])
    }

    /// A temporary CSV with `text`, removed by the caller.
    func temporaryCSV(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "fairgen-metrics-\(UUID().uuidString).csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func printsScikitLearnValuesAndValidJSON() throws {
        let r = try runFairgen(["metrics", csv, "--group", "skin_tone", "--group", "sex", "--high-risk", "melanoma"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let printed = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        let expected = try Fixture.json("predictions_small_expected.json")
        expectJSONMatches(jsonValue(printed), expected, tolerance: 1e-9)
        let v = try schemaValidator()
        #expect(v.errors(printed, schema: v.resolve("#/$defs/evaluation")!) == [])
        // Key order follows DESIGN §6.
        #expect(r.stdout.hasPrefix("{\n  \"n\": 60,\n  \"accuracy\": "))
    }

    @Test func outgroupPosteriorOption() throws {
        let r = try runFairgen(["metrics", csv, "--group", "sex", "--outgroup-seed", "7"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let printed = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let female = printed.object("by_group").object("sex").object("values").object("female")
        let post = female.object("top3_vs_outgroup")
        #expect(post.int("samples") == 100_000)
        let (lo, hi, mean) = (post.optionalDouble("lower")!, post.optionalDouble("upper")!, post.optionalDouble("mean")!)
        #expect(lo < mean && mean < hi)
        let v = try schemaValidator()
        #expect(v.errors(printed, schema: v.resolve("#/$defs/evaluation")!) == [])
    }

    @Test func rejectsBadInputWithOneLineMessages() throws {
        let header = "label,score_a,score_b,site\n"
        let unknown = try temporaryCSV(header + "a,0.1,0.9,x\nc,0.5,0.5,y\n")
        let nonNumeric = try temporaryCSV(header + "a,0.1,0.9,x\nb,high,0.5,y\n")
        let noLabel = try temporaryCSV("truth,score_a,score_b\na,0.1,0.9\n")
        defer { for p in [unknown, nonNumeric, noLabel] { try? FileManager.default.removeItem(atPath: p) } }
        let cases: [([String], [String])] = [
            (["metrics", csv, "--group", "nosuch"], ["predictions_small.csv", "line 1", "'nosuch'"]),
            (["metrics", unknown], [unknown, "line 3", "column 'label'", "unknown label 'c'"]),
            (["metrics", nonNumeric], [nonNumeric, "line 3", "column 'score_a'", "'high'"]),
            (["metrics", noLabel], [noLabel, "missing column 'label'"]),
            (["metrics", csv, "--high-risk", "warts"], ["--high-risk warts", "unknown class"]),
            (["metrics", "/nonexistent/p.csv"], ["/nonexistent/p.csv", "cannot read"]),
        ]
        for (args, needles) in cases {
            let r = try runFairgen(args)
            #expect(r.status == 1, "\(args): status \(r.status)")
            #expect(r.stdout.isEmpty)
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(args): \(r.stderr)")
            for n in needles { #expect(r.stderr.contains(n), "\(args): '\(n)' not in \(r.stderr)") }
        }
    }
}
