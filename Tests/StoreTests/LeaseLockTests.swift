import Foundation
import Testing
@testable import Store
#if canImport(Glibc)
import Glibc
#endif

/// The lease lock of shared-filesystem stores (docs/cluster.md): exclusive create, holder identity,
/// heartbeat, and the stale rules (dead PID or other boot on this host; silent heartbeat on another).
struct LeaseLockTests {
    static func identity(_ host: String, pid: Int32 = getpid(), boot: String = LeaseLock.Identity.current.boot) -> LeaseLock.Identity {
        LeaseLock.Identity(host: host, pid: pid, boot: boot)
    }

    /// Writes a lock file as a holder would have left it.
    static func plant(_ path: String, host: String, pid: Int32, boot: String = LeaseLock.Identity.current.boot) throws {
        let holder = LeaseLock.Holder(host: host, pid: pid, boot: boot, token: "planted", purpose: "test")
        try JSONEncoder().encode(holder).write(to: URL(fileURLWithPath: path))
    }

    /// A PID that is certainly not running: a child that has exited and been reaped.
    static func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    @Test func aHeldLockRefusesOthersAndNamesItsHolder() throws {
        let t = try TempStore(); defer { t.remove() }
        let path = t.path + "/locks/x.lock"
        let first = try LeaseLock.acquire(path, purpose: "stage demo", wait: 0, identity: Self.identity("node-a"))
        #expect(LeaseLock.readHolder(path)?.host == "node-a")
        #expect(LeaseLock.readHolder(path)?.pid == getpid())
        // Same host, live PID: held.
        #expect { try LeaseLock.acquire(path, purpose: "stage demo", wait: 0, identity: Self.identity("node-a")) } throws: { error in
            let e = error as? StoreError
            return e?.kind == .locked && e!.message.contains("host node-a pid \(getpid())") && e!.message.contains("stage demo")
        }
        // Another host whose heartbeat runs (the file is fresh): held too.
        #expect(throws: StoreError.self) {
            try LeaseLock.acquire(path, purpose: "stage demo", lease: 30, wait: 0.3, identity: Self.identity("node-b"))
        }
        first.release()
        #expect(!FileManager.default.fileExists(atPath: path))
        let second = try LeaseLock.acquire(path, purpose: "stage demo", wait: 0, identity: Self.identity("node-b"))
        #expect(LeaseLock.readHolder(path)?.host == "node-b")
        second.release()
    }

    @Test func aDeadHolderOnThisHostOrAnEarlierBootIsTakenOverAtOnce() throws {
        let t = try TempStore(); defer { t.remove() }
        try FileManager.default.createDirectory(atPath: t.path + "/locks", withIntermediateDirectories: true)
        let path = t.path + "/locks/y.lock"
        try Self.plant(path, host: "node-a", pid: try Self.deadPID())
        let taken = try LeaseLock.acquire(path, purpose: "test", lease: 3600, wait: 0, identity: Self.identity("node-a"))
        #expect(LeaseLock.readHolder(path)?.token == taken.holder.token)
        taken.release()

        // A live PID, but recorded before this host rebooted (another boot id): stale.
        try Self.plant(path, host: "node-a", pid: getpid(), boot: "an-earlier-boot")
        let again = try LeaseLock.acquire(path, purpose: "test", lease: 3600, wait: 0, identity: Self.identity("node-a"))
        #expect(LeaseLock.readHolder(path)?.token == again.holder.token)
        again.release()
        // Nothing was left beside the lock by the takeovers.
        #expect(try FileManager.default.contentsOfDirectory(atPath: t.path + "/locks").isEmpty)
    }

    @Test func anotherHostsLockIsTakenOverOnlyOnceItsHeartbeatStops() throws {
        let t = try TempStore(); defer { t.remove() }
        try FileManager.default.createDirectory(atPath: t.path + "/locks", withIntermediateDirectories: true)
        let path = t.path + "/locks/z.lock"
        // node-b holds it with a live heartbeat (lease 0.4 s: a touch every 0.1 s).
        let held = try LeaseLock.acquire(path, purpose: "test", lease: 0.4, wait: 0, identity: Self.identity("node-b"))
        let begin = Date()
        #expect(throws: StoreError.self) {
            try LeaseLock.acquire(path, purpose: "test", lease: 0.4, wait: 1.5, identity: Self.identity("node-a"))
        }
        #expect(Date().timeIntervalSince(begin) >= 1.4)
        #expect(!held.isLost)
        held.release()
        // The holder's own lease decides, not the waiter's: a 30 s holder outlives a waiter with a 0.3 s lease.
        let long = try LeaseLock.acquire(path, purpose: "test", lease: 30, wait: 0, identity: Self.identity("node-b"))
        #expect(throws: StoreError.self) {
            try LeaseLock.acquire(path, purpose: "test", lease: 0.3, wait: 1, identity: Self.identity("node-a"))
        }
        #expect(!long.isLost && LeaseLock.readHolder(path)?.token == long.holder.token)

        // A holder that died on node-b leaves a file nobody touches: node-a waits one lease, then takes it.
        long.release()
        try Self.plant(path, host: "node-b", pid: getpid())
        let start = Date()
        let taken = try LeaseLock.acquire(path, purpose: "test", lease: 0.5, wait: 10, identity: Self.identity("node-a"))
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 0.5 && waited < 5, "waited \(waited) s")
        #expect(LeaseLock.readHolder(path)?.host == "node-a")
        taken.release()
    }

    @Test func aHolderWhoseFileWasReplacedSeesItsLockLost() throws {
        let t = try TempStore(); defer { t.remove() }
        let path = t.path + "/locks/w.lock"
        let lock = try LeaseLock.acquire(path, purpose: "test", lease: 0.2, wait: 0, identity: Self.identity("node-a"))
        try Self.plant(path, host: "node-b", pid: 1)
        let lost = (0..<50).contains { _ in usleep(20_000); return lock.isLost }
        #expect(lost)
        lock.release()
        // Not ours any more: release leaves the other holder's file alone.
        #expect(LeaseLock.readHolder(path)?.host == "node-b")
    }
}
