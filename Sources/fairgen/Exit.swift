import ArgumentParser
import Foundation
import Store

/// Exit codes of DESIGN §8.
enum ExitStatus: Int32 {
    /// Success.
    case ok = 0
    /// The input was rejected; stderr names the file, field and what was expected.
    case rejected = 1
    /// The command line was wrong.
    case usage = 2
    /// A bug or an environment failure; stderr asks for a report.
    case internalFailure = 3
}

/// A failure the CLI reports as one line on stderr with a specific exit code.
struct CLIFailure: Error {
    let status: ExitStatus
    let message: String

    static func rejected(_ message: String) -> CLIFailure { CLIFailure(status: .rejected, message: message) }
}

extension Fairgen {
    /// Entry point (replaces ArgumentParser's default so that exit codes follow DESIGN §8: its usage
    /// errors would exit 64, unexpected errors 1).
    static func main() {
        BLASEnvironment.prepare()
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help, --version
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            Console.error(fullMessage(for: error))
            Foundation.exit(ExitStatus.usage.rawValue)
        }
        do {
            var runnable = command
            try runnable.run()
        } catch {
            Foundation.exit(Exit.report(error, command: type(of: command)))
        }
        Foundation.exit(0)
    }
}

/// Turns errors into the one-line message and exit status of DESIGN §8.
enum Exit {
    /// Prints the error's message on stderr and returns the exit status.
    static func report(_ error: Error, command: ParsableCommand.Type) -> Int32 {
        switch error {
        case let failure as CLIFailure:
            Console.error(failure.message)
            return failure.status.rawValue
        case let failure as StoreError:
            let status = status(for: failure)
            Console.error(status == .internalFailure ? internalMessage(failure.message) : failure.message)
            return status.rawValue
        case let code as ExitCode:
            return code.rawValue
        default:
            let code = Fairgen.exitCode(for: error)
            if code == .success { print(Fairgen.fullMessage(for: error)); return 0 }
            if code == .validationFailure {
                Console.error(Fairgen.fullMessage(for: error))
                return ExitStatus.usage.rawValue
            }
            Console.error(internalMessage("\(error)"))
            return ExitStatus.internalFailure.rawValue
        }
    }

    /// Store problems the user can act on are rejections; only I/O failures are internal.
    static func status(for error: StoreError) -> ExitStatus {
        switch error.kind {
        case .notFound, .invalid, .locked, .corrupt, .immutable: return .rejected
        case .io: return .internalFailure
        }
    }

    static func internalMessage(_ detail: String) -> String {
        "fairgen: internal failure: \(detail). Unless this is an environment problem (disk full, permissions), please report it with the command line you ran."
    }
}
