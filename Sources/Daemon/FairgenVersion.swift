/// Version strings shared between the daemon and the pipeline.
public enum FairgenVersion {
    /// The version of the code that produces runs. The pipeline records it in every `run.json` as
    /// `"code_version"`; `fairgen reprocess --if-stale` reruns a dataset when the latest complete run
    /// was made by a different value. Bump it whenever a change alters results.
    public static let code = "fairgen-0.1.0"
}
