import Foundation
import Logging
import Testing
@testable import Daemon
import Datasets
@testable import Pipeline
import Tensors

/// Scalars that must never reach a terminal raw: C0 (with newline), DEL, C1, bidi controls, U+2028/9.
private func rawControls(_ text: String) -> [String] {
    text.unicodeScalars.filter { u in
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029:
            return true
        default: return false
        }
    }.map { "U+" + String($0.value, radix: 16) }
}

/// Keeps every message a logger sends, as the wrapped (innermost) handler receives it.
private final class CapturedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return _lines }
    func append(_ line: String) { lock.lock(); _lines.append(line); lock.unlock() }
}

private struct CapturingHandler: LogHandler {
    let sink: CapturedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let meta = (metadata.merging(event.metadata ?? [:]) { $1 }).map { "\($0)=\($1)" }.sorted().joined(separator: " ")
        sink.append("\(event.level) \(meta) \(event.message)")
    }
}

@Suite("Untrusted text in the pipeline and the daemon")
struct UntrustedTextPipelineTests {
    @Test func classesDifferingOnlyInUnsafeCharactersGetDistinctGridFiles() throws {
        let classes = ["a b", "a_b", "a/b"]
        var collector = GridCollector(classes: classes, attribute: nil, values: ["all"])
        for (i, cls) in classes.enumerated() {
            collector.offer(Tensor(shape: [3, 4, 4], data: [Float](repeating: Float(i) / 3, count: 48)), label: cls, value: "all")
        }
        let grids = try collector.pngs()
        let names = grids.map(\.0)
        #expect(names == ["000-a_b", "001-a_b", "002-a_b"])
        #expect(Set(names).count == 3)
        #expect(Set(grids.map(\.1)).count == 3)  // three different images, none lost
        #expect(names.map { GridCollector.classIndex(ofGrid: $0[...]) } == [0, 1, 2])
        #expect(GridCollector.classIndex(ofGrid: "melanoma") == nil && GridCollector.classIndex(ofGrid: "12-x") == nil)
        // Long or dot-leading names stay usable file names.
        #expect(GridCollector.fileName(classIndex: 7, className: ".hidden") == "007-_.hidden")
        #expect(GridCollector.fileName(classIndex: 1234, className: String(repeating: "z", count: 300)).count == 5 + 40)
    }

    /// Each grid row shows the cell's real training images left of a gap, then its samples, so a reader can
    /// compare them; a real image of another size (another resolution) is left out rather than distorted.
    @Test func gridRowsStartWithRealImagesOfTheirCell() throws {
        func flat(_ v: Float, _ s: Int = 4) -> Tensor { Tensor(shape: [3, s, s], data: [Float](repeating: v, count: 3 * s * s)) }
        var collector = GridCollector(classes: ["x"], attribute: "tone", values: ["light", "dark"])
        collector.offer(flat(0.2), label: "x", value: "light")
        collector.offer(flat(0.4), label: "x", value: "dark")
        collector.offerReal(flat(0.6), label: "x", value: "dark")
        collector.offerReal(flat(0.8, 8), label: "x", value: "light")   // wrong size: ignored
        #expect(collector.wantsReal(label: "x", value: "dark"))
        for _ in 1..<FairSampleStage.gridRealColumns { collector.offerReal(flat(0.6), label: "x", value: "dark") }
        #expect(!collector.wantsReal(label: "x", value: "dark"))
        let grids = try collector.pngs()
        #expect(grids.count == 1)
        let img = try PNGCodec.decode(grids[0].1, file: "grid", entry: "x")
        let s = 4, real = FairSampleStage.gridRealColumns, offset = real * (s + 1) + GridCollector.separator
        #expect(img.shape == [3, 2 * (s + 1) + 1, offset + FairSampleStage.gridColumns * (s + 1) + 1])
        let w = img.shape[2]
        func at(_ y: Int, _ x: Int) -> Float { img.data[y * w + x] }   // red channel
        let quantum: Float = 1.0 / 255
        // Row 1 (dark): real image at column 0, its sample after the gap.
        #expect(abs(at(s + 2, 1) - 0.6) <= quantum)
        #expect(abs(at(s + 2, offset + 1) - 0.4) <= quantum)
        // Row 0 (light): no real image of the right size, so background; its sample after the gap.
        #expect(at(1, 1) == 1)
        #expect(abs(at(1, offset + 1) - 0.2) <= quantum)
        // Without any real image the grid is as before: samples only.
        var plain = GridCollector(classes: ["x"], attribute: nil, values: ["all"])
        plain.offer(flat(0.2), label: "x", value: "all")
        let p = try PNGCodec.decode(try plain.pngs()[0].1, file: "grid", entry: "x")
        #expect(p.shape == [3, s + 2, FairSampleStage.gridColumns * (s + 1) + 1])
    }

    @Test func reportShowsRealClassNamesWithControlsAndBidiMadeVisible() throws {
        let metrics = try MetricsSummary(json: exampleMetricsJSON())
        let grids = [SampleGrid(className: "a/b", attribute: "tone", value: "x", png: [1]),
                     SampleGrid(className: "evil\u{202E}gnp.exe\u{1B}]0;t\u{07}", attribute: "tone", value: "y\u{2066}", png: [2])]
        let html = ReportBuilder.html(metrics: metrics, grids: grids)
        #expect(rawControls(html.replacingOccurrences(of: "\n", with: "")) == [])
        #expect(html.contains("<figcaption>a/b · tone = x</figcaption>"))
        #expect(html.contains("<figcaption>evil\\u{202E}gnp.exe\\x1b]0;t\\x07 · tone = y\\u{2066}</figcaption>"))
    }

    @Test func newlineInAnInboxFileNameCannotForgeALogLine() throws {
        let dir = DaemonTempDir()
        defer { dir.cleanup() }
        let inbox = dir.sub("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        // A manifest whose file name carries a fake log line, an OSC title sequence and a bidi override;
        // its `archive` is outside the inbox, so the daemon rejects it and logs (and records) the name.
        let evil = "evil\n2026-01-01T00:00:00+0000 info fairgen.daemon : job j1 done\u{1B}]0;pwned\u{07}\u{202E}.yaml"
        let path = inbox + "/" + evil
        _ = FileManager.default.createFile(atPath: path, contents: Data("name: evil\narchive: ../elsewhere.tar.gz\n".utf8))
        daemonBackdate([path], by: 60)

        let captured = CapturedLines()
        var config = DaemonConfig(inbox: URL(fileURLWithPath: inbox), store: URL(fileURLWithPath: dir.sub("store")))
        config.once = true
        config.settle = 0.3
        config.pollInterval = 0.2
        let logger = Logger(label: "test") { _ in CapturingHandler(sink: captured) }
        try Daemon(config: config, runner: DaemonFakeRunner(.succeed), logger: logger).run()

        let lines = captured.lines
        let mentions = lines.filter { $0.contains("evil\\n2026-01-01T00:00:00+0000 info fairgen.daemon : job j1 done\\x1b]0;pwned\\x07\\u{202E}.yaml") }
        #expect(!mentions.isEmpty, "log: \(lines)")
        for line in lines {
            #expect(!line.contains("\n") && rawControls(line) == [], "\(line.debugDescription)")
        }
        let failed = try #require(daemonOutcomeFolders(inbox, ".failed").first)
        let errorFile = try JSONDecoder().decode(Outcomes.ErrorFile.self, from: try FileOps.read(failed + "/error.json"))
        #expect(rawControls(errorFile.message) == [] && errorFile.message.contains("evil\\n2026"), "\(errorFile.message.debugDescription)")
        let raw = String(decoding: try FileOps.read(failed + "/error.json"), as: UTF8.self)
        #expect(rawControls(raw.replacingOccurrences(of: "\n", with: "")) == [])
    }

    @Test func oneLineLogHandlerRendersMetadataAndDoesNotNest() {
        let captured = CapturedLines()
        var logger = Logger(label: "t") { _ in CapturingHandler(sink: captured) }.writingOneLineEvents().writingOneLineEvents()
        #expect(logger.handler is OneLineLogHandler)
        #expect(!((logger.handler as! OneLineLogHandler).wrapped is OneLineLogHandler))
        logger[metadataKey: "job"] = "j\n2"
        logger.info("a\u{1B}[2Jb", metadata: ["file": "x\u{202E}y"])
        #expect(captured.lines == ["info file=x\\u{202E}y job=j\\n2 a\\x1b[2Jb"])
    }
}
