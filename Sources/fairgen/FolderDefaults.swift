import ArgumentParser
import Foundation

/// Where `--inbox` and `--store` point when not given: the flag, else the environment variable, else a
/// folder in the working directory (docs/cli.md).
///
/// An empty variable (`FAIRGEN_INBOX=` in a unit file or a shell) counts as unset: `URL(fileURLWithPath:
/// "")` is the working directory, and a daemon watching that would treat unrelated files there as drops
/// and move them to `.failed/`.
enum FolderDefaults {
    /// The environment variable for the inbox default.
    static let inboxVariable = "FAIRGEN_INBOX"
    /// The environment variable for the store default.
    static let storeVariable = "FAIRGEN_STORE"

    /// The value of `name` in `environment`, or nil when it is unset or empty.
    static func variable(_ name: String, in environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// `flag`, else `$variable` (when non-empty), else `fallback`, as a file URL (relative paths resolve
    /// against the working directory).
    static func folder(flag: String?, variable name: String, fallback: String,
                       environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        URL(fileURLWithPath: flag ?? variable(name, in: environment) ?? fallback)
    }

    /// Rejects an explicitly empty folder flag (`--inbox ""`), which would also mean the working directory.
    static func validate(_ flag: String?, option: String) throws {
        if let flag, flag.isEmpty {
            throw ValidationError("\(option) is empty; expected a folder path (omit the option to use the default)")
        }
    }
}
