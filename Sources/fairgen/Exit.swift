import ArgumentParser
import Foundation
import Pipeline
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
            Console.errorBlock(fullMessage(for: error))
            Foundation.exit(ExitStatus.usage.rawValue)
        }
        if let refusal = TrainCheckCommand.refusalUnderMPI(type(of: command)) {
            Console.error(refusal)
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
        if let failure = environmentFailure(in: error) {
            Console.error(failure.message)
            return ExitStatus.internalFailure.rawValue
        }
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
                Console.errorBlock(Fairgen.fullMessage(for: error))
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

    /// A failure of the machine rather than of the input or the code: the file system is full or
    /// refuses writes. It exits 3 (DESIGN §8) with its true cause and the path, and does not ask for
    /// a bug report.
    struct EnvironmentFailure: Equatable {
        /// ENOSPC, EDQUOT, EROFS, EACCES or EPERM.
        let code: Int32
        /// The line printed on stderr.
        let message: String
    }

    /// The environment failure behind `error`, looking through the errors that wrap others
    /// (`PipelineError.underlying`, Foundation's underlying errors); nil when it is something else.
    static func environmentFailure(in error: Error) -> EnvironmentFailure? {
        guard let (code, detail) = systemErrno(of: error, depth: 0) else { return nil }
        switch code {
        case ENOSPC, EDQUOT:
            return EnvironmentFailure(code: code, message: "fairgen: disk full: \(detail). Free space on that file system "
                                      + "(or raise the quota), then run the same command again: finished stages are reused.")
        case EROFS, EACCES, EPERM:
            let text = detail.hasPrefix("store is read-only") ? detail : "the store is read-only or not writable: \(detail)"
            return EnvironmentFailure(code: code, message: "fairgen: \(text).")
        default:
            return nil
        }
    }

    /// The errno of an environment failure somewhere in `error`'s chain, with the message that names
    /// its path. Modules below Store report such failures only as `strerror` text (e.g. checkpoint
    /// writes), so that text is recognised as a last resort.
    private static func systemErrno(of error: Error, depth: Int) -> (Int32, String)? {
        guard depth < 8 else { return nil }
        let watched: [Int32] = [ENOSPC, EDQUOT, EROFS, EACCES, EPERM]
        switch error {
        case let e as StoreError:
            if let code = e.code, watched.contains(code) { return (code, e.message) }
            return nil
        case let e as PipelineError:
            if let inner = e.underlying, let found = systemErrno(of: inner, depth: depth + 1) { return found }
        case let e as CocoaError:
            let mapped: [CocoaError.Code: Int32] = [.fileWriteOutOfSpace: ENOSPC, .fileWriteVolumeReadOnly: EROFS,
                                                    .fileWriteNoPermission: EACCES]
            if let code = mapped[e.code] {
                let path = (e.errorUserInfo[NSFilePathErrorKey] as? String).map { " (\($0))" } ?? ""
                return (code, e.localizedDescription + path)
            }
            if let inner = e.errorUserInfo[NSUnderlyingErrorKey] as? Error,
               let found = systemErrno(of: inner, depth: depth + 1) { return found }
        case let e as POSIXError:
            if watched.contains(e.code.rawValue) { return (e.code.rawValue, e.localizedDescription) }
        default:
            break
        }
        let text = "\(error)"
        for code in [ENOSPC, EDQUOT, EROFS] where text.contains(String(cString: strerror(code))) {
            return (code, text)
        }
        return nil
    }

    static func internalMessage(_ detail: String) -> String {
        "fairgen: internal failure: \(detail). Unless this is an environment problem (disk full, permissions), please report it with the command line you ran."
    }
}
