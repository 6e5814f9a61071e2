// Store module: see docs/architecture.md.
public enum StoreModule { public static let name = "Store" }
