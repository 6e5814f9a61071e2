import Foundation
import Testing

/// What one run of the `fairgen` binary did.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let stdoutBytes: Data
}

/// Runs the built `fairgen` executable as a subprocess.
enum CLI {
    /// The binary built next to the test bundle (`.build/<config>/fairgen`).
    static let executable: URL = {
        var candidates: [URL] = []
        let bundle = Bundle.main.bundleURL
        candidates += [bundle, bundle.deletingLastPathComponent()]
        if let exe = Bundle.main.executableURL?.deletingLastPathComponent() {
            candidates += [exe, exe.deletingLastPathComponent()]
        }
        for dir in candidates {
            let file = dir.appendingPathComponent("fairgen")
            if FileManager.default.isExecutableFile(atPath: file.path) { return file }
        }
        // Fall back to the package's release build (relative to this source file).
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/release/fairgen")
    }()

    /// Runs `fairgen args…` in `directory` with extra environment variables (FAIRGEN_STORE is
    /// removed unless given, so the caller's environment cannot leak in).
    static func run(_ args: [String], in directory: URL, env: [String: String] = [:],
                    timeout: TimeInterval = 600) throws -> CLIResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = args
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["FAIRGEN_STORE"] = nil
        environment.merge(env) { _, new in new }
        process.environment = environment
        // Files rather than pipes: no deadlock however much the child writes.
        let outURL = directory.appendingPathComponent(".stdout-\(UUID().uuidString)")
        let errURL = directory.appendingPathComponent(".stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        // A hung child must fail its test, not stall the whole suite until CI's deadline.
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            process.terminate()
            process.waitUntilExit()
        }
        let out = try Data(contentsOf: outURL)
        let err = try Data(contentsOf: errURL)
        let stderr = String(decoding: err, as: UTF8.self)
        return CLIResult(status: timedOut ? 124 : process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: timedOut ? "timed out after \(Int(timeout)) s: fairgen \(args.joined(separator: " "))\n" + stderr : stderr,
                         stdoutBytes: out)
    }
}

/// A scratch working directory for one test.
struct Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("fairgen-cli-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    var path: String { url.path }
    func remove() { try? FileManager.default.removeItem(at: url) }

    func run(_ args: String..., env: [String: String] = [:]) throws -> CLIResult {
        try CLI.run(args, in: url, env: env)
    }

    /// Files under `relative` (recursively), or [] if it does not exist.
    func files(under relative: String) -> [String] {
        let root = url.appendingPathComponent(relative).path
        let all = (try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []
        return all.filter { path in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDir) && !isDir.boolValue
        }
    }
}
