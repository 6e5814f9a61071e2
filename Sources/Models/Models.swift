// Models module: see docs/architecture.md.
public enum ModelsModule { public static let name = "Models" }
