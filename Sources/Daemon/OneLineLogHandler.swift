import Logging
import Text

/// Wraps a log handler so that every event it writes is one line of safe text: the message and the
/// metadata values are rendered with `UntrustedText.terminal` before the wrapped handler sees them.
///
/// Log lines interpolate file names, dataset names and error messages that quote manifest keys and
/// CSV cells; a newline in an inbox file name would otherwise forge a second log line, and ESC/OSC or
/// bidi characters would reach the operator's terminal or journald raw. Applying the rendering here,
/// at the sink, covers every call site; the daemon wraps the logger it is given, and the CLI wraps
/// the handler it bootstraps.
public struct OneLineLogHandler: LogHandler {
    /// The handler that formats and writes the (already rendered) event.
    public private(set) var wrapped: any LogHandler

    public init(wrapping handler: any LogHandler) {
        // Rendering is idempotent, but one pass is enough: do not nest wrappers.
        if let already = handler as? OneLineLogHandler { self = already } else { wrapped = handler }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: UntrustedText.terminal(event.message.description))
        event.metadata = event.metadata.map(Self.render)
        wrapped.log(event: event)
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue.map(Self.render) }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = Self.render(newValue) }
    }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    static func render(_ metadata: Logger.Metadata) -> Logger.Metadata {
        var out = Logger.Metadata()
        for (key, value) in metadata { out[UntrustedText.terminal(key)] = render(value) }
        return out
    }

    static func render(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let s): return .string(UntrustedText.terminal(s))
        case .stringConvertible(let c): return .string(UntrustedText.terminal(c.description))
        case .array(let items): return .array(items.map(render))
        case .dictionary(let d): return .dictionary(render(d))
        }
    }
}

extension Logger {
    /// This logger with its handler wrapped in `OneLineLogHandler` (a no-op when it already is).
    public func writingOneLineEvents() -> Logger {
        var logger = self
        logger.handler = OneLineLogHandler(wrapping: handler)
        return logger
    }
}
