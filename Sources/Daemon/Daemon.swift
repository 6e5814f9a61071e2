// Daemon module: see docs/architecture.md.
public enum DaemonModule { public static let name = "Daemon" }
