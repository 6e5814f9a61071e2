import ArgumentParser

/// `fairgen reprocess` — not built yet; its issue replaces this file.
struct ReprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reprocess", abstract: "(not built yet)")
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    func run() throws { NotBuiltYet.exit("reprocess") }
}
