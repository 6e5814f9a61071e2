import Foundation

/// Subcommands whose issue has not landed say so on stderr and exit with code 2 (usage error).
enum NotBuiltYet {
    static func exit(_ command: String) -> Never {
        Console.error("fairgen \(command): not built yet")
        Foundation.exit(2)
    }
}
