// Pipeline module: see docs/architecture.md.
public enum PipelineModule { public static let name = "Pipeline" }
