import ArgumentParser

/// `fairgen metrics` — not built yet; its issue replaces this file.
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics", abstract: "(not built yet)")
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    func run() throws { NotBuiltYet.exit("metrics") }
}
