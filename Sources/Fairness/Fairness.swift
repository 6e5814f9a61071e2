// Fairness module: see docs/architecture.md.
public enum FairnessModule { public static let name = "Fairness" }
