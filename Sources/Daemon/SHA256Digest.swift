import Foundation
import Store

/// SHA-256 of a byte buffer, as lower-case hex. The daemon hashes manifests for `reprocess --if-stale`
/// and long inbox names for claims; the implementation is the store's (`Store.SHA256`).
public enum SHA256Digest {
    /// The digest of `data` as 64 hex characters.
    public static func hex(_ data: Data) -> String {
        SHA256.hex(data.withUnsafeBytes { SHA256.hash($0) })
    }
}
