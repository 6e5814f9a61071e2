import Foundation
import Logging
import Testing
@testable import Daemon
#if canImport(Glibc)
import Glibc
#endif

/// A fresh folder under the system temp folder; removed by `cleanup()`.
struct DaemonTempDir {
    let path: String
    var url: URL { URL(fileURLWithPath: path) }

    init(_ label: String = #function) {
        let base = NSTemporaryDirectory() + "fairgen-daemon-tests"
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        var template = Array((base + "/" + label.filter { $0.isLetter || $0.isNumber } + "-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made.map { String(cString: $0) } ?? (base + "/" + UUID().uuidString)
        if made == nil { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Deterministic pseudo-random bytes (content of fake archives).
func daemonFakeBytes(count: Int, seed: UInt64) -> Data {
    var state = seed &* 0x9E3779B97F4A7C15 | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        bytes[i] = UInt8(truncatingIfNeeded: state)
    }
    return Data(bytes)
}

/// A manifest that passes `Manifest.parse` (the daemon validates manifests in full at the inbox).
func daemonManifestText(name: String, archive: String) -> String {
    "# test drop\nname: \(name)\narchive: \(archive)   # beside me\nmodality: dermatology\ntable: t.csv\n"
        + "image_column: path\nlabel: {kind: single, column: dx, classes: [a, b]}\n"
}

/// Writes a complete drop NAME.yaml + NAME.tar.gz into `inbox`, optionally back-dating both files
/// (as if they arrived while the daemon was down). Returns file name → SHA-256 of its content.
@discardableResult
func daemonWriteDrop(inbox: String, name: String, seed: UInt64 = 1, ageSeconds: Double? = 60) -> [String: String] {
    try? FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
    let manifest = Data(daemonManifestText(name: name, archive: "\(name).tar.gz").utf8)
    let archive = daemonFakeBytes(count: 4096 + Int(seed % 997), seed: seed)
    _ = FileManager.default.createFile(atPath: inbox + "/\(name).tar.gz", contents: archive)
    _ = FileManager.default.createFile(atPath: inbox + "/\(name).yaml", contents: manifest)
    if let age = ageSeconds { daemonBackdate([inbox + "/\(name).tar.gz", inbox + "/\(name).yaml"], by: age) }
    return ["\(name).yaml": SHA256Digest.hex(manifest), "\(name).tar.gz": SHA256Digest.hex(archive)]
}

/// Sets the modification time of files `seconds` into the past.
func daemonBackdate(_ paths: [String], by seconds: Double) {
    let date = Date(timeIntervalSinceNow: -seconds)
    for path in paths { try? FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path) }
}

/// SHA-256 of a file's content, or nil when unreadable.
func daemonFileHash(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { SHA256Digest.hex($0) }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
func daemonWaitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Subfolders of `inbox/.processed` or `inbox/.failed`.
func daemonOutcomeFolders(_ inbox: String, _ kind: String) -> [String] {
    FileOps.list(inbox + "/" + kind).map { inbox + "/" + kind + "/" + $0 }
}

/// A logger that drops everything (tests assert on files, not on log text).
func daemonQuietLogger() -> Logger {
    var logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}

/// A runner with scripted behaviour, standing in for the pipeline.
final class DaemonFakeRunner: JobRunner, @unchecked Sendable {
    /// `stopSlowly`: like `loopUntilCancelled`, but after cancellation it keeps "checkpointing" until
    /// `release()` (a stop slower than the daemon's grace period).
    enum Mode { case succeed, fail, loopUntilCancelled, stopSlowly, sleep(Double) }
    private let lock = NSLock()
    private let mode: Mode
    private var _started: [String] = []
    private var _checkpointed = 0
    private var _sawInputs: [[String]] = []
    private var active = 0
    private var _maxActive = 0
    private var released = false

    init(_ mode: Mode) { self.mode = mode }

    /// Ids of the jobs started, in order.
    var started: [String] { lock.lock(); defer { lock.unlock() }; return _started }
    /// How many times a cancelled job "wrote its checkpoint" before returning.
    var checkpointed: Int { lock.lock(); defer { lock.unlock() }; return _checkpointed }
    /// The largest number of jobs seen running at once.
    var maxActive: Int { lock.lock(); defer { lock.unlock() }; return _maxActive }
    /// Lets `stopSlowly` jobs return.
    func release() { lock.lock(); released = true; lock.unlock() }
    private var isReleased: Bool { lock.lock(); defer { lock.unlock() }; return released }

    /// The files each job found in its work folder.
    var sawInputs: [[String]] { lock.lock(); defer { lock.unlock() }; return _sawInputs }

    func run(job: Job, context: JobContext) throws -> JobResult {
        lock.lock()
        _started.append(job.id)
        _sawInputs.append(FileOps.list(context.workDirectory.path).filter { !$0.hasPrefix(".") })
        lock.unlock()
        context.progress("fake stage step 1/1")
        switch mode {
        case .succeed:
            return .succeeded(summary: "fake v0001")
        case .fail:
            return .failed(JobError(stage: "ingest", message: "\(job.manifest): field `table`: expected a CSV name",
                                    hint: "fake failure"))
        case .sleep(let seconds):
            lock.lock(); active += 1; _maxActive = max(_maxActive, active); lock.unlock()
            usleep(UInt32(seconds * 1e6))
            lock.lock(); active -= 1; lock.unlock()
            return .succeeded(summary: "slept")
        case .loopUntilCancelled:
            while !context.cancellation.isCancelled { usleep(10_000) }
            lock.lock(); _checkpointed += 1; lock.unlock()
            return .interrupted
        case .stopSlowly:
            while !context.cancellation.isCancelled || !isReleased { usleep(10_000) }
            return .interrupted
        }
    }
}

/// The built `fairgen` executable, next to the test bundle (SwiftPM builds it for CLITests).
func daemonFairgenBinary() -> String? {
    var candidates: [String] = []
    let runnerDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    candidates.append(runnerDir.appendingPathComponent("fairgen").path)
    if let bundle = Bundle.main.executableURL?.deletingLastPathComponent() {
        candidates.append(bundle.appendingPathComponent("fairgen").path)
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates += [".build/release/fairgen", ".build/debug/fairgen"].map { root.appendingPathComponent($0).path }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A started `fairgen` subprocess with stdout/stderr captured to files.
final class DaemonFairgenProcess {
    let process = Process()
    let stderrPath: String
    let stdoutPath: String

    /// `env` is merged over the test's environment, from which FAIRGEN_INBOX and FAIRGEN_STORE are removed.
    init(_ arguments: [String], in dir: DaemonTempDir, tag: String, env extra: [String: String] = [:]) throws {
        guard let binary = daemonFairgenBinary() else {
            throw DaemonError("fairgen executable not found next to the test bundle; build it with `swift build`")
        }
        stderrPath = dir.sub("\(tag).stderr")
        stdoutPath = dir.sub("\(tag).stdout")
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = dir.url
        var env = ProcessInfo.processInfo.environment
        env["FAIRGEN_INBOX"] = nil
        env["FAIRGEN_STORE"] = nil
        env.merge(extra) { _, new in new }
        process.environment = env
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        try process.run()
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for exit; returns the exit status, or nil on timeout (the process is then killed).
    func wait(timeout: Double) -> Int32? {
        if daemonWaitUntil(timeout: timeout, { !process.isRunning }) {
            process.waitUntilExit()
            return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return nil
    }
}

/// Runs a daemon on a background thread; `done` turns true when `run()` returns.
final class DaemonBackground: @unchecked Sendable {
    private let lock = NSLock()
    private var _done = false
    private var _error: (any Error)?
    var done: Bool { lock.lock(); defer { lock.unlock() }; return _done }
    var error: (any Error)? { lock.lock(); defer { lock.unlock() }; return _error }

    init(_ daemon: Daemon) {
        let thread = Thread { [self] in
            var failure: (any Error)?
            do { try daemon.run() } catch { failure = error }
            lock.lock(); _done = true; _error = failure; lock.unlock()
        }
        thread.start()
    }
}

/// A logger that keeps every message, for tests about what is logged and how often.
final class DaemonLogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var _lines: [String] = []

    /// Every message so far, oldest first.
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return _lines }

    /// The messages containing `text`.
    func lines(containing text: String) -> [String] { lines.filter { $0.contains(text) } }

    fileprivate func append(_ line: String) { lock.lock(); _lines.append(line); lock.unlock() }

    var logger: Logger {
        Logger(label: "test", factory: { _ in Handler(capture: self) })
    }

    private struct Handler: LogHandler {
        let capture: DaemonLogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { capture.append(event.message.description) }
    }
}

/// A clock the test moves by hand (seconds since 1970), for `DaemonConfig.clock`.
final class DaemonFakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double

    init(_ start: Double = Date().timeIntervalSince1970) { value = start }

    var now: Double { lock.lock(); defer { lock.unlock() }; return value }
    func advance(_ seconds: Double) { lock.lock(); value += seconds; lock.unlock() }
}
