import Foundation

/// When to try again something that failed for a reason the daemon cannot fix itself (a drop that
/// could not be queued because the store is full or read-only, a queue folder that cannot be read):
/// the wait doubles after each consecutive failure, from `base` up to `cap`, so a lasting problem is
/// retried — and logged — once per step instead of on every scan. Pure logic: the caller passes the
/// time, so tests drive it with a fake clock.
public struct RetryBackoff: Sendable {
    /// The wait after the first failure, in seconds.
    public var base: Double
    /// The longest wait, in seconds.
    public var cap: Double

    struct Entry: Sendable {
        var failures: Int
        /// When the next attempt is due; `.infinity` once it was handed out and has not failed again.
        var next: Double
    }
    private var entries: [String: Entry] = [:]

    public init(base: Double = 1, cap: Double = 60) {
        self.base = base
        self.cap = max(base, cap)
    }

    /// The wait after `failures` consecutive failures: base, 2·base, 4·base, … at most `cap`.
    public func delay(afterFailures failures: Int) -> Double {
        let doublings = Double(max(0, min(failures - 1, 62)))
        return min(cap, base * pow(2, doublings))
    }

    /// Records a failure of `key` at `now`; returns how many failed in a row and how long to wait.
    @discardableResult
    public mutating func failed(_ key: String, now: Double) -> (failures: Int, delay: Double) {
        let failures = (entries[key]?.failures ?? 0) + 1
        let wait = delay(afterFailures: failures)
        entries[key] = Entry(failures: failures, next: now + wait)
        return (failures, wait)
    }

    /// Forgets `key` after a success: its next failure waits `base` again.
    public mutating func succeeded(_ key: String) {
        entries[key] = nil
    }

    /// Forgets every key not in `keep` (e.g. drops whose files left the inbox).
    public mutating func retain(_ keep: (String) -> Bool) {
        entries = entries.filter { keep($0.key) }
    }

    /// True when `key` failed and its wait has not ended at `now`.
    public func isWaiting(_ key: String, now: Double) -> Bool {
        guard let entry = entries[key] else { return false }
        return entry.next.isFinite && now < entry.next
    }

    /// The keys whose wait ended at `now`, sorted. Each is handed out once per failure: it comes back
    /// only after it failed again.
    public mutating func due(now: Double) -> [String] {
        let keys = entries.filter { $0.value.next <= now }.keys.sorted()
        for key in keys { entries[key]?.next = .infinity }
        return keys
    }

    /// How many consecutive failures `key` has (0 when none).
    public func failures(_ key: String) -> Int { entries[key]?.failures ?? 0 }
}
