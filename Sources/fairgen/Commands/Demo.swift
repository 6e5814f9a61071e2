import ArgumentParser

/// `fairgen demo` — not built yet; its issue replaces this file.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "(not built yet)")
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    func run() throws { NotBuiltYet.exit("demo") }
}
