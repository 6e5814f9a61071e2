import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// inotify on the inbox folder. It is used to wake the daemon up and to learn which files arrived by
/// rename (complete by convention, no settle needed); the drop detector always re-reads the folder,
/// so a lost or coalesced event (queue overflow) costs latency, never a drop.
public final class InboxWatcher {
    /// What happened to a name in the inbox.
    public enum Kind: Sendable, Equatable {
        /// A writer closed the file (`IN_CLOSE_WRITE`).
        case closedWrite
        /// The file was renamed into the inbox (`IN_MOVED_TO`): complete by the atomic-rename convention.
        case movedIn
        /// The file was created (`IN_CREATE`); more writes may follow.
        case created
        /// The kernel dropped events (`IN_Q_OVERFLOW`): rescan everything.
        case overflow
    }

    /// One inotify event on a visible (non-dot) name.
    public struct Event: Sendable, Equatable {
        public let name: String
        public let kind: Kind
    }

    /// The watched folder.
    public let directory: String
    private let fd: Int32

    /// Starts watching `directory` (which must exist).
    public init(directory: String) throws {
        self.directory = directory
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd < 0 { throw FileOps.posixError("inotify_init1 for", directory) }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)
        if inotify_add_watch(fd, directory, mask) < 0 {
            let err = FileOps.posixError("inotify_add_watch", directory)
            close(fd)
            throw err
        }
    }

    deinit { close(fd) }

    /// Waits up to `timeout` seconds for inotify events, or for `wakeFD` (e.g. a signal self-pipe)
    /// to become readable, and returns the events read (dot-files filtered out). An empty result
    /// means the timeout passed or `wakeFD` fired.
    public func wait(timeout: Double, wakeFD: Int32? = nil) -> [Event] {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        if let wakeFD { fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)) }
        let ms = Int32(max(0, min(timeout, 3600)) * 1000)
        let ready = poll(&fds, nfds_t(fds.count), ms)
        if ready <= 0 || fds[0].revents & Int16(POLLIN) == 0 { return [] }
        return drain()
    }

    /// Reads every queued event without blocking.
    public func drain() -> [Event] {
        var events: [Event] = []
        let capacity = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, capacity)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            events += InboxWatcher.parse(UnsafeRawBufferPointer(start: buffer, count: n))
        }
        return events
    }

    /// Parses a buffer of `struct inotify_event` records by offsets: the name is a flexible array
    /// member of `len` bytes (NUL padded) after the fixed 16-byte header.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> [Event] {
        let header = MemoryLayout<inotify_event>.size
        var events: [Event] = []
        var offset = 0
        while offset + header <= bytes.count {
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            let nameStart = offset + header
            guard nameStart + length <= bytes.count else { break }
            var nameBytes = Array(bytes[nameStart..<(nameStart + length)])
            if let nul = nameBytes.firstIndex(of: 0) { nameBytes.removeSubrange(nul...) }
            let name = String(decoding: nameBytes, as: UTF8.self)
            offset = nameStart + length
            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                events.append(Event(name: "", kind: .overflow))
                continue
            }
            if name.isEmpty || name.hasPrefix(".") || mask & UInt32(IN_ISDIR) != 0 { continue }
            if mask & UInt32(IN_MOVED_TO) != 0 {
                events.append(Event(name: name, kind: .movedIn))
            } else if mask & UInt32(IN_CLOSE_WRITE) != 0 {
                events.append(Event(name: name, kind: .closedWrite))
            } else if mask & UInt32(IN_CREATE) != 0 {
                events.append(Event(name: name, kind: .created))
            }
        }
        return events
    }
}
