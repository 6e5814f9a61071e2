// Diffusion module: see docs/architecture.md.
public enum DiffusionModule { public static let name = "Diffusion" }
