#if canImport(Glibc)
import Glibc
#endif

/// The BLAS facts every benchmark line and every run.json records (docs/performance.md): which
/// OpenBLAS kernels ran, how they were chosen, on which CPU, with how many threads.
public struct BLASInfo: Codable, Sendable, Equatable {
    /// `openblas_get_corename()`, e.g. "Zen", "SkylakeX", "Prescott".
    public var kernel: String
    /// How the kernel was chosen: "openblas" (OpenBLAS's own detection), "auto (OpenBLAS chose X)",
    /// "FAIRGEN_BLAS_CORETYPE", "OPENBLAS_CORETYPE", or "fallback (X failed its check)".
    public var selection: String
    /// The CPU's brand string (CPUID), e.g. "AMD EPYC 7B13".
    public var cpu: String
    /// OpenBLAS threads at the time of recording.
    public var threads: Int

    public init(kernel: String, selection: String, cpu: String, threads: Int) {
        self.kernel = kernel
        self.selection = selection
        self.cpu = cpu
        self.threads = threads
    }

    /// This process's facts now.
    public static func current() -> BLASInfo {
        BLASInfo(kernel: BLASCore.active, selection: BLASStartup.selection(environment: BLASStartup.environment()),
                 cpu: CPUFeatures.current.model, threads: BLAS.threads)
    }
}

/// The start-up decision about OpenBLAS's core. OpenBLAS reads OPENBLAS_CORETYPE when the library is
/// loaded (before `main`), so switching means setting it and re-executing the process; the
/// `FAIRGEN_BLAS_REEXEC` marker carries the state across that exec so it happens at most twice
/// (switch, then back if the switched core fails its check) and never loops:
///
///   no marker, OpenBLAS's core older than the CPU supports → set OPENBLAS_CORETYPE, marker `verify`, exec
///   no marker, FAIRGEN_BLAS_CORETYPE names another runnable core → the same
///   marker `verify` → corename must equal the request and the sgemm check must pass: marker `done`;
///                    otherwise OPENBLAS_CORETYPE back to the original, marker `fallback`, exec
///   no marker, the user's own OPENBLAS_CORETYPE → check it; on failure unset it, marker `fallback`, exec
///   marker `done` / `fallback` (also inherited by child processes) → nothing more
public enum BLASStartup {
    /// State carried across the re-exec (ours; `state,source,core`).
    public static let marker = "FAIRGEN_BLAS_REEXEC"
    /// User override: an OpenBLAS core name, or `keep` for OpenBLAS's own choice.
    public static let override = "FAIRGEN_BLAS_CORETYPE"
    /// OpenBLAS's own variable.
    public static let coretype = "OPENBLAS_CORETYPE"

    /// What to do at start-up.
    public struct Decision: Equatable, Sendable {
        /// Environment changes (nil value = unset), applied before anything else.
        public var environment: [String: String?] = [:]
        /// Re-execute the process after applying `environment`.
        public var reexec = false
        /// Lines for stderr: the choice when it differs from OpenBLAS's own, and every fallback.
        public var messages: [String] = []
    }

    /// The marker's fields.
    struct Marker: Equatable {
        enum State: String { case verify, done, fallback }
        var state: State
        /// "auto", "FAIRGEN_BLAS_CORETYPE" or "OPENBLAS_CORETYPE".
        var source: String
        /// verify/done: the core OpenBLAS had chosen before the switch; fallback: the core that failed.
        var core: String

        init(_ state: State, source: String, core: String) {
            self.state = state
            self.source = source
            self.core = core
        }

        init?(_ text: String) {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, let state = State(rawValue: parts[0]) else { return nil }
            self.init(state, source: parts[1], core: parts[2])
        }

        var text: String { "\(state.rawValue),\(source),\(core)" }
    }

    /// Decides from the environment, OpenBLAS's active core, the CPU's features and the sgemm check
    /// (`check` returns nil when it passes, else the reason; it is only called for a forced core).
    public static func decide(environment env: [String: String], active: String, cpu: CPUFeatures,
                              check: () -> String?) -> Decision {
        var d = Decision()
        if let text = env[marker] {
            guard let m = Marker(text), m.state == .verify else { return d }  // done, fallback or foreign: stop
            let requested = env[coretype] ?? ""
            let failure = active.lowercased() != requested.lowercased()
                ? "OpenBLAS reports core \(active)" : check()
            if let failure {
                d.environment = [coretype: m.core, marker: Marker(.fallback, source: m.source, core: requested).text]
                d.reexec = true
                d.messages.append("fairgen: warning: OpenBLAS core \(requested) failed its check (\(failure)); "
                                  + "going back to \(m.core)")
            } else {
                d.environment = [marker: Marker(.done, source: m.source, core: m.core).text]
                d.messages.append(m.source == "auto"
                    ? "fairgen: OpenBLAS chose its \(m.core) kernels for \(cpu.model) (\(cpu.summary)); using \(active)"
                    : "fairgen: OpenBLAS core \(active) (from \(override))")
            }
            return d
        }

        let request = env[override]?.trimmingWhitespace ?? ""
        if !request.isEmpty {
            if request.lowercased() == "keep" { return d }
            guard let core = BLASCore.canonical(request) else {
                d.messages.append("fairgen: warning: \(override): unknown OpenBLAS core \(quoted(request)) (expected "
                                  + "keep or one of \(BLASCore.generations.map(\.name).joined(separator: ", "))); "
                                  + "keeping \(active)")
                return d
            }
            if core.lowercased() == active.lowercased() { return d }
            switch BLASCore.runs(core, on: cpu) {
            case true?: break
            case false?:
                d.messages.append("fairgen: warning: \(override)=\(core) needs instructions this CPU (\(cpu.summary)) "
                                  + "lacks; keeping \(active)")
                return d
            case nil:
                d.messages.append("fairgen: warning: \(override)=\(core) may use vendor-specific instructions "
                                  + "fairgen cannot check on this CPU; keeping \(active) (OPENBLAS_CORETYPE=\(core) forces it)")
                return d
            }
            return switchTo(core, from: active, source: override)
        }

        if let own = env[coretype], !own.isEmpty {
            // The user forced a core: respect it, but not one that computes garbage or dies of SIGILL.
            if let failure = check() {
                d.environment = [coretype: nil, marker: Marker(.fallback, source: coretype, core: active).text]
                d.reexec = true
                d.messages.append("fairgen: warning: \(coretype)=\(quoted(own)) failed the sgemm check (\(failure)); "
                                  + "using OpenBLAS's own choice")
            } else {
                d.environment = [marker: Marker(.done, source: coretype, core: active).text]
            }
            return d
        }

        if let better = BLASCore.upgrade(from: active, for: cpu) {
            return switchTo(better, from: active, source: "auto")
        }
        return d
    }

    static func switchTo(_ core: String, from active: String, source: String) -> Decision {
        var d = Decision()
        d.environment = [coretype: core, marker: Marker(.verify, source: source, core: active).text]
        d.reexec = true
        return d
    }

    /// `BLASInfo.selection` for a process started with `env` (after `decide` has run).
    public static func selection(environment env: [String: String]) -> String {
        if let text = env[marker], let m = Marker(text) {
            switch m.state {
            case .fallback: return "fallback (\(m.core) failed its check)"
            case .verify, .done: return m.source == "auto" ? "auto (OpenBLAS chose \(m.core))" : m.source
            }
        }
        if let own = env[coretype], !own.isEmpty { return coretype }
        return "openblas"
    }

    /// The variables `decide` and `selection` read, from this process's environment.
    public static func environment() -> [String: String] {
        var env: [String: String] = [:]
        for name in [marker, override, coretype] {
            if let value = getenv(name) { env[name] = String(cString: value) }
        }
        return env
    }

    /// User text for a message: escaped and cut short, never raw.
    static func quoted(_ text: String) -> String {
        let cut = text.count > 40 ? String(text.prefix(40)) + "…" : text
        return cut.debugDescription
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
