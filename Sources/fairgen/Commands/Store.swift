import ArgumentParser

/// `fairgen store` — not built yet; its issue replaces this file.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "(not built yet)")
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    func run() throws { NotBuiltYet.exit("store") }
}
