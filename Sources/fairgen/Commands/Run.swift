import ArgumentParser

/// `fairgen run` — not built yet; its issue replaces this file.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "(not built yet)")
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    func run() throws { NotBuiltYet.exit("run") }
}
