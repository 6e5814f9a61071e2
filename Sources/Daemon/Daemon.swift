import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Settings of one daemon (`fairgen watch` flags).
public struct DaemonConfig: Sendable {
    /// The watched folder (created when missing).
    public var inbox: URL
    /// The store root (created when missing).
    public var store: URL
    /// Process what is there (start-up scan + queue), then return.
    public var once = false
    /// Seconds a file must stay unchanged before it counts as complete.
    public var settle: Double = 2
    /// Jobs run at the same time (never two of the same dataset).
    public var jobs = 1
    /// Longest sleep between inbox/queue scans when nothing happens.
    public var pollInterval: Double = 1
    /// After a stop request, how long running jobs get to checkpoint before the daemon returns anyway
    /// (the job then stays in `running/`, marked as interrupted by the shutdown, and resumes on the
    /// next start without counting as a crash).
    public var stopGrace: Double = 8
    /// A drop that could not be queued (store full or read-only, …) is retried after `retryBase`
    /// seconds, then after twice as long each time, at most `retryCap` seconds apart.
    public var retryBase: Double = 1
    /// See `retryBase`.
    public var retryCap: Double = 60
    /// Wall clock in seconds since 1970 (injectable for tests).
    public var clock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    public init(inbox: URL, store: URL) {
        self.inbox = inbox
        self.store = store
    }
}

/// The daemon: watches the inbox, queues complete drops, runs queued jobs through a `JobRunner`, and
/// moves the inputs to `.processed/` or `.failed/`. One per store (`store/locks/daemon.lock`).
///
/// Threads: `run()` owns all queue and inbox state on the calling thread; each job runs on its own
/// thread and hands its result back through `finished` and the wake pipe. `requestStop()` may be
/// called from any thread.
public final class Daemon: @unchecked Sendable {
    public let config: DaemonConfig
    private let runner: any JobRunner
    private let logger: Logger

    private let lock = NSLock()
    private var stopReason: String?
    private var tokens: [String: CancellationToken] = [:]
    private var finished: [(Job, JobResult, Double)] = []
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    // Touched only by the thread in `run()`.
    private var queueRetry: RetryBackoff
    private var claimRetry: RetryBackoff
    /// Inbox files of each drop waiting in `queueRetry` (manifest name → file names).
    private var retryFiles: [String: [String]] = [:]
    /// Drops claimed by a daemon of another store (manifest → files, next check of the claim).
    private var heldElsewhere: [String: (files: [String], recheck: Double)] = [:]
    /// This daemon as the owner of inbox claims.
    private let claimOwner: InboxClaims.Owner
    /// Seconds between two checks of a claim held by another daemon (is it released or stale?).
    static let claimRecheck: Double = 2

    /// `logger` is wrapped in `OneLineLogHandler`: log lines carry inbox file names and error text
    /// from drops, which must not forge lines or reach the terminal raw.
    public init(config: DaemonConfig, runner: any JobRunner, logger: Logger) {
        self.config = config
        self.runner = runner
        self.logger = logger.writingOneLineEvents()
        claimOwner = InboxClaims.Owner(store: config.store.path)
        queueRetry = RetryBackoff(base: config.retryBase, cap: config.retryCap)
        claimRetry = RetryBackoff(base: config.retryBase, cap: config.retryCap)
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            wakeRead = fds[0]
            wakeWrite = fds[1]
        }
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Makes SIGTERM and SIGINT stop the daemon like `requestStop`. The handler only stores the signal
    /// number and writes a byte to the wake pipe (both async-signal-safe); the run loop, woken by the
    /// pipe, does the rest. One daemon per process: the last one installed receives the signals.
    public func installSignalHandlers() {
        SignalState.wakeFD = wakeWrite
        // A parent may have started us with these signals blocked (the mask is inherited across
        // exec); unblock them on this thread so that they reach the handler.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGTERM, SIGINT] {
            signal(sig) { number in
                SignalState.received = number
                var byte: UInt8 = 1
                _ = write(SignalState.wakeFD, &byte, 1)
            }
        }
    }

    /// Asks the daemon to stop: running jobs are cancelled (they checkpoint and return), then
    /// `run()` returns. Thread-safe and idempotent.
    public func requestStop(reason: String = "stop requested") {
        lock.lock()
        if stopReason == nil { stopReason = reason }
        let running = Array(tokens.values)
        lock.unlock()
        for token in running { token.cancel() }
        wake()
    }

    private var stopping: String? {
        lock.lock(); defer { lock.unlock() }
        return stopReason
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
        let sig = SignalState.received
        if sig != 0 && SignalState.wakeFD == wakeWrite {
            requestStop(reason: sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal \(sig)")
        }
    }

    private func datasetExists(_ name: String) -> Bool {
        FileOps.isDirectory(config.store.appendingPathComponent("datasets/" + name).path)
    }

    /// Runs until stopped (or, with `once`, until the inbox and queue hold nothing more to do).
    /// Throws when the store is locked by another daemon or cannot be opened.
    public func run() throws {
        let inbox = config.inbox.standardizedFileURL.path
        try FileOps.makeDirectory(inbox)
        try FileOps.makeDirectory(config.store.path)
        let daemonLock = try DaemonLock(store: config.store)
        defer { daemonLock.release() }
        let queue = try JobQueue(store: config.store)
        logger.info("fairgen daemon started: pid \(getpid()), inbox \(inbox), store \(config.store.path), settle \(config.settle) s, jobs \(config.jobs)\(config.once ? ", once" : "")")

        for job in try queue.recover() {
            logger.warning("job \(job.id) (\(job.dataset)) was left in running/: moved to \(job.lastState?.rawValue ?? "?") (\(job.history.last?.note ?? ""))")
        }
        for state in [Job.State.done, .failed] {
            for job in queue.jobs(state) where job.outcome?.complete != true {
                do {
                    try Outcomes.complete(job, in: state, queue: queue)
                    logger.info("job \(job.id): finished moving its inputs after a restart")
                } catch {
                    logger.error("job \(job.id): moving its inputs failed: \(error)")
                }
            }
        }
        confirmClaims(queue: queue)
        var detector = DropDetector(settle: config.settle)
        for job in queue.jobs(.pending) where job.inbox == inbox {
            detector.claim(Dictionary(uniqueKeysWithValues: job.inputs.map { ($0.name, $0.identity) }))
        }
        let watcher = try InboxWatcher(directory: inbox)
        let started = config.clock()
        var running: [String: Job] = [:]
        var snapshot: InboxSnapshot?
        var claimsRefreshed = config.clock()

        while stopping == nil {
            let now = config.clock()
            let current = InboxSnapshot.scan(directory: inbox, previous: snapshot)
            snapshot = current
            // Drops that failed to queue stay claimed in the detector until their wait is over.
            queueRetry.retain { current.files[$0] != nil }
            retryFiles = retryFiles.filter { current.files[$0.key] != nil }
            for manifest in queueRetry.due(now: now) { detector.unclaim(retryFiles[manifest] ?? [manifest]) }
            recheckHeldDrops(inbox: inbox, present: current.files, now: now, detector: &detector)
            if now - claimsRefreshed >= InboxClaims.refreshInterval {
                claimsRefreshed = now
                for job in queue.jobs(.pending) + queue.jobs(.running) {
                    if let jobInbox = job.inbox, !job.inputs.isEmpty {
                        InboxClaims.refresh(inbox: jobInbox, manifest: job.manifest, owner: claimOwner)
                    }
                }
            }
            for decision in detector.update(snapshot: current, now: now, datasetExists: datasetExists) {
                handle(decision, inbox: inbox, queue: queue, detector: &detector, now: now)
            }
            collectFinished(queue: queue, running: &running)
            while running.count < max(1, config.jobs), stopping == nil, !claimRetry.isWaiting("claim", now: now) {
                let next: Job?
                do {
                    next = try queue.claimNext(excluding: Set(running.values.map(\.dataset)))
                    claimRetry.succeeded("claim")
                } catch {
                    // A file-system hiccup must not take the daemon down; the job stays where it was.
                    let (failures, wait) = claimRetry.failed("claim", now: now)
                    logger.error("claiming the next job failed (\(failures) in a row): \(error); retrying in \(Daemon.seconds(wait))")
                    next = nil
                }
                guard let job = next else { break }
                running[job.id] = job
                start(job)
            }
            // Nothing running right after the claim loop means nothing claimable is pending.
            if config.once && running.isEmpty
                && (!detector.hasUnsettled(now: now) || now - started > config.settle + 1) {
                break
            }
            let fast = config.once || detector.hasUnsettled(now: now)
            let events = watcher.wait(timeout: fast ? min(0.2, config.pollInterval) : config.pollInterval,
                                      wakeFD: wakeRead)
            drainWake()
            detector.observe(events)
        }

        if let reason = stopping {
            logger.info("\(reason): stopping; \(running.count) running job(s) asked to checkpoint")
            let deadline = config.clock() + config.stopGrace
            while !running.isEmpty && config.clock() < deadline {
                var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                _ = poll(&fds, 1, 200)
                drainWake()
                collectFinished(queue: queue, running: &running)
            }
            for job in running.values {
                // A requested stop is not a crash: mark the job so that the next start resumes it
                // without counting a recovery (three of those would fail a healthy job).
                do {
                    try queue.markInterruptedByShutdown(job, note: "interrupted (\(reason)); did not stop within \(Daemon.seconds(config.stopGrace))")
                    logger.warning("job \(job.id) did not stop within \(Daemon.seconds(config.stopGrace)); it stays in running/ and resumes on the next start (not counted as a crash)")
                } catch {
                    logger.error("job \(job.id) did not stop within \(Daemon.seconds(config.stopGrace)), and marking it as interrupted failed: \(error); the next start counts it as a crash")
                }
            }
        }
        logger.info("fairgen daemon stopped")
    }

    /// Runs the given pending jobs now, in this process, one after another (`fairgen reprocess
    /// --foreground`). Takes the daemon lock, so it refuses to run while a daemon serves the store.
    /// A stop request interrupts the current job (it returns to `pending/`) and skips the rest.
    /// Returns each job's final state (nil when it was not pending).
    public func runNow(ids: [String]) throws -> [(id: String, state: Job.State?)] {
        let daemonLock = try DaemonLock(store: config.store)
        defer { daemonLock.release() }
        let queue = try JobQueue(store: config.store)
        for id in ids where stopping == nil {
            guard let job = try queue.claim(id: id) else { continue }
            var running = [job.id: job]
            start(job)
            while !running.isEmpty {
                var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                _ = poll(&fds, 1, 500)
                drainWake()
                collectFinished(queue: queue, running: &running)
            }
        }
        return ids.map { (id: $0, state: queue.state(of: $0)) }
    }

    private func handle(_ decision: DropDecision, inbox: String, queue: JobQueue, detector: inout DropDetector,
                        now: Double) {
        switch decision {
        case .ready(let drop):
            let inputs = drop.files.keys.sorted().map { Job.Input(name: $0, identity: drop.files[$0]!) }
            var claimed = false
            do {
                guard try claim(drop.manifest, files: drop.files, inbox: inbox, now: now) else { return }
                claimed = true
                let job = try queue.enqueue(kind: drop.kind, dataset: drop.dataset,
                                            manifestSource: inbox + "/" + drop.manifest,
                                            archiveSource: drop.archive.map { inbox + "/" + $0 },
                                            inbox: inbox, inputs: inputs, note: "\(drop.kind.rawValue) drop in inbox")
                queueRetry.succeeded(drop.manifest)
                retryFiles[drop.manifest] = nil
                logger.info("drop \(drop.manifest)\(drop.archive.map { " + " + $0 } ?? "") complete: queued job \(job.id) (\(drop.kind.rawValue))")
            } catch {
                // Retried with a growing wait (one log line per attempt), not on every scan: the
                // files stay claimed in the detector until then; a new version of them is a new drop.
                let (failures, wait) = queueRetry.failed(drop.manifest, now: now)
                retryFiles[drop.manifest] = Array(drop.files.keys)
                logger.error("drop \(drop.manifest) not queued (attempt \(failures)): \(error); retrying in \(Daemon.seconds(wait))")
                // Meanwhile a daemon of another store may take it.
                if claimed { try? InboxClaims.release(inbox: inbox, manifest: drop.manifest, owner: claimOwner) }
            }
        case .rejected(let manifest, let files, let error):
            do {
                guard try claim(manifest, files: files, inbox: inbox, now: now) else { return }
            } catch {
                let (failures, wait) = queueRetry.failed(manifest, now: now)
                retryFiles[manifest] = Array(files.keys)
                logger.error("drop \(manifest) is invalid, but claiming it failed (attempt \(failures)): \(error); retrying in \(Daemon.seconds(wait))")
                return
            }
            do {
                let folder = try Outcomes.reject(manifest: manifest, inbox: inbox, error: error)
                logger.error("drop \(manifest) rejected: \(error) → \(folder)")
            } catch {
                logger.error("drop \(manifest) rejected, but moving it to \(Outcomes.failedFolder) failed: \(error)")
            }
            try? InboxClaims.release(inbox: inbox, manifest: manifest, owner: claimOwner)
        case .waiting(let manifest, let archive):
            logger.info("drop \(manifest): waiting for its archive \(archive)")
        }
    }

    /// Claims a drop in the inbox for this daemon's store (see `InboxClaims`). False when a live daemon
    /// of another store holds it: the drop is then left alone, and its claim checked again every
    /// `claimRecheck` seconds in case that daemon dies or gives the drop up.
    private func claim(_ manifest: String, files: [String: FileIdentity], inbox: String, now: Double) throws -> Bool {
        switch try InboxClaims.claim(inbox: inbox, manifest: manifest, files: files, owner: claimOwner) {
        case .claimed(let stale):
            if let stale {
                logger.warning("drop \(manifest): took over the claim of the daemon of store \(stale.store) (pid \(stale.pid) on \(stale.host)), which is gone")
            }
            heldElsewhere[manifest] = nil
            return true
        case .heldBy(let other):
            if heldElsewhere[manifest] == nil {
                logger.info("drop \(manifest) is claimed by the daemon of store \(other.store) (pid \(other.pid) on \(other.host)); leaving it to that daemon")
            }
            heldElsewhere[manifest] = (Array(files.keys), now + Daemon.claimRecheck)
            return false
        }
    }

    /// Offers a drop held by another daemon again once its claim is gone or stale.
    private func recheckHeldDrops(inbox: String, present: [String: FileIdentity], now: Double, detector: inout DropDetector) {
        heldElsewhere = heldElsewhere.filter { present[$0.key] != nil }
        for (manifest, held) in heldElsewhere where now >= held.recheck {
            if let claim = InboxClaims.read(inbox: inbox, manifest: manifest), claim.store != claimOwner.store,
               InboxClaims.isLive(claim, inbox: inbox, now: now) {
                heldElsewhere[manifest]?.recheck = now + Daemon.claimRecheck
            } else {
                heldElsewhere[manifest] = nil
                detector.unclaim(held.files)
            }
        }
    }

    /// Start-up: re-claims the drops of this store's pending jobs. A daemon of another store may have
    /// taken one over while this one was down (its claim was stale then); such a job is abandoned
    /// rather than run a second time.
    private func confirmClaims(queue: JobQueue) {
        for job in queue.jobs(.pending) {
            // (An inbox that is gone has no one to share it with; do not recreate it.)
            guard let jobInbox = job.inbox, !job.inputs.isEmpty, FileOps.isDirectory(jobInbox) else { continue }
            let files = Dictionary(job.inputs.map { ($0.name, $0.identity) }, uniquingKeysWith: { a, _ in a })
            do {
                if case .heldBy(let other) = try InboxClaims.claim(inbox: jobInbox, manifest: job.manifest, files: files, owner: claimOwner) {
                    let reason = "drop \(job.manifest) was taken over by the daemon of store \(other.store) (pid \(other.pid) on \(other.host)) while this daemon was down"
                    try queue.abandon(job, reason: reason)
                    logger.warning("job \(job.id): \(reason); not run here")
                }
            } catch {
                logger.error("job \(job.id): checking the claim on its drop failed: \(error); running it anyway")
            }
        }
    }

    private func start(_ job: Job) {
        let token = CancellationToken()
        lock.lock()
        tokens[job.id] = token
        let alreadyStopping = stopReason != nil
        lock.unlock()
        if alreadyStopping { token.cancel() }
        var jobLogger = logger
        jobLogger[metadataKey: "job"] = "\(job.id)"
        let context = JobContext(cancellation: token, storeURL: config.store,
                                 workDirectory: URL(fileURLWithPath: JobQueue.workDirectoryPath(store: config.store, id: job.id)),
                                 logger: jobLogger)
        logger.info("job \(job.id) start: \(job.kind.rawValue) \(job.dataset), attempt \(job.attempts)")
        let runner = self.runner
        let begin = config.clock()
        let thread = Thread { [self] in
            let result: JobResult
            do {
                result = try runner.run(job: job, context: context)
            } catch let error as JobError {
                result = .failed(error)
            } catch is CancellationError {
                result = .interrupted
            } catch {
                result = token.isCancelled ? .interrupted : .failed(JobError(
                    stage: "internal", message: "\(error)", hint: "this is a bug: please report it with the daemon log"))
            }
            self.post(job, result, seconds: self.config.clock() - begin)
        }
        thread.stackSize = 16 << 20
        thread.start()
    }

    private func post(_ job: Job, _ result: JobResult, seconds: Double) {
        lock.lock()
        finished.append((job, result, seconds))
        tokens[job.id] = nil
        lock.unlock()
        wake()
    }

    private func collectFinished(queue: JobQueue, running: inout [String: Job]) {
        lock.lock()
        let results = finished
        finished.removeAll()
        lock.unlock()
        for (job, result, seconds) in results {
            running[job.id] = nil
            let took = String(format: "%.1f s", seconds)
            do {
                switch result {
                case .succeeded(let summary):
                    let done = try Outcomes.complete(try queue.finish(job, summary: summary), in: .done, queue: queue)
                    logger.info("job \(job.id) done in \(took): \(summary)\(done.outcome?.folder.map { "; inputs → \($0)" } ?? "")")
                case .failed(let error):
                    let failed = try Outcomes.complete(try queue.fail(job, error: error), in: .failed, queue: queue)
                    logger.error("job \(job.id) failed in \(took) at stage \(error.stage): \(error.message)\(failed.outcome?.folder.map { "; inputs → \($0)" } ?? "")")
                case .interrupted:
                    _ = try queue.requeue(job, note: "interrupted (\(stopping ?? "runner stopped")); resumes on the next start")
                    logger.info("job \(job.id) interrupted after \(took): back in pending/, resumes on the next start")
                }
            } catch {
                logger.error("job \(job.id): recording its outcome failed: \(error); it is recovered on the next start")
            }
        }
    }
}

extension Daemon {
    /// "4 s", "0.5 s": a wait as logged.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }
}

/// What the signal handler may touch: plain values written with single stores.
enum SignalState {
    nonisolated(unsafe) static var received: Int32 = 0
    nonisolated(unsafe) static var wakeFD: Int32 = -1
}

extension DaemonConfig {
    /// Parses a duration flag: "2s", "500ms", "1.5", "2" (seconds); nil when malformed or negative.
    public static func parseSeconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let (number, scale): (Substring, Double) =
            t.hasSuffix("ms") ? (t.dropLast(2), 0.001) : t.hasSuffix("s") ? (t.dropLast(1), 1) : (Substring(t), 1)
        guard let value = Double(number), value.isFinite, value >= 0 else { return nil }
        return value * scale
    }
}

extension JobQueue {
    /// The folder a job is in, or nil when it is in none.
    public func state(of id: String) -> Job.State? {
        Job.State.allCases.first { FileOps.exists(path(id, $0)) }
    }

    /// A job's work folder for a store root (same as `JobQueue(store:).workDirectory(id)`).
    public static func workDirectoryPath(store: URL, id: String) -> String {
        store.appendingPathComponent("queue/work/" + id).path
    }
}
