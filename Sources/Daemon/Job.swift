import Foundation

/// One unit of work in the on-disk queue: `store/queue/<state>/<id>.json`.
///
/// Runner contract: the manifest to run is `workDirectory/manifest` and, for an ingest, the archive is
/// `workDirectory/archive` (copies of the inbox files, made before the job was queued).
public struct Job: Codable, Sendable, Equatable {
    /// Queue folders, in lifecycle order.
    public enum State: String, Codable, Sendable, CaseIterable {
        case pending, running, done, failed
    }

    /// `<UTC time>-<dataset>-<random>`: sorts by creation time.
    public var id: String
    /// Ingest (manifest + archive) or reprocess (manifest only).
    public var kind: Drop.Kind
    /// The dataset's name in the store.
    public var dataset: String
    /// File name of the manifest copy inside the job's work folder.
    public var manifest: String
    /// File name of the archive copy inside the job's work folder (ingest only).
    public var archive: String?
    /// Inbox folder the inputs came from (absolute); nil for jobs queued by `fairgen reprocess`.
    public var inbox: String?
    /// The inbox files this job consumed, with their identity when queued.
    public var inputs: [Input]
    /// Creation time, ISO 8601 UTC.
    public var created: String
    /// How many times a daemon started running this job.
    public var attempts: Int
    /// How many times a daemon found this job in `running/` after a crash.
    public var recoveries: Int
    /// Set on the copy left in `running/` when a requested shutdown (SIGTERM) stopped waiting for the
    /// job: the next start returns it to `pending/` without counting a crash. Absent otherwise.
    public var interruptedByShutdown: Bool?
    /// Every state change with its time and a note.
    public var history: [Event]
    /// The failure reason, when failed.
    public var error: JobError?
    /// The runner's summary, when done.
    public var summary: String?
    /// Where the inputs went after the job ended (nil until then).
    public var outcome: Outcome?

    /// An inbox file consumed by a job.
    public struct Input: Codable, Sendable, Equatable {
        /// File name in the inbox (and of its copy in the work folder).
        public var name: String
        public var identity: FileIdentity
    }

    /// A state change.
    public struct Event: Codable, Sendable, Equatable {
        public var state: State
        public var time: String
        public var note: String?
    }

    /// The outcome folder (`inbox/.processed/…` or `inbox/.failed/…`; nil when there were no inbox
    /// inputs) and whether moving the inputs there has finished (crash recovery completes it).
    public struct Outcome: Codable, Sendable, Equatable {
        public var folder: String?
        public var complete: Bool
    }

    /// The state recorded last in the history.
    public var lastState: State? { history.last?.state }

    mutating func record(_ state: State, note: String?, at date: Date = Date()) {
        history.append(Event(state: state, time: FileOps.isoUTC(date), note: note))
    }
}
