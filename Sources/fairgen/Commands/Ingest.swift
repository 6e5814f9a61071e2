import ArgumentParser

/// `fairgen ingest` — not built yet; its issue replaces this file.
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "(not built yet)")
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    func run() throws { NotBuiltYet.exit("ingest") }
}
