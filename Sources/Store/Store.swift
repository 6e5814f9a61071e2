import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fairgen store on disk (DESIGN §5): content-addressed objects, stage keys, versioned dataset
/// runs, the job queue folders and lock files. The layout is browsable with `ls`; docs/store.md
/// describes every file. The store knows nothing about what its objects mean.
public final class Store: Sendable {
    /// How a run's `checkpoints/…`, `synthetic/…` files point at their objects.
    public enum LinkStyle: Sendable {
        /// A hard link (same inode as the object); falls back to a symlink when the file system refuses.
        case hardLink
        /// A relative symlink into `objects/`.
        case symbolicLink
    }

    /// The store's root folder.
    public let root: URL
    /// The content-addressed objects under `objects/sha256/`.
    public let objects: ObjectStore
    /// How runs link to objects.
    public let linkStyle: LinkStyle

    let rootPath: String
    var tmpPath: String { rootPath + "/tmp" }
    var keysPath: String { rootPath + "/keys" }
    var datasetsPath: String { rootPath + "/datasets" }
    var locksPath: String { rootPath + "/locks" }
    var queuePath: String { rootPath + "/queue" }

    /// The four job-queue folders the daemon moves job files between.
    public static let queueStates = ["pending", "running", "done", "failed"]

    private init(rootPath: String, linkStyle: LinkStyle) {
        self.rootPath = rootPath
        self.root = URL(fileURLWithPath: rootPath)
        self.objects = ObjectStore(root: rootPath + "/objects/sha256", tmpPath: rootPath + "/tmp")
        self.linkStyle = linkStyle
    }

    /// Opens the store at `root`. With `create`, makes the whole layout (missing folders only; never
    /// touches existing files). Without it, a folder that is not a store is an error naming it.
    public static func open(at root: URL, create: Bool, linkStyle: LinkStyle = .hardLink) throws -> Store {
        let path = root.standardizedFileURL.path
        let store = Store(rootPath: path, linkStyle: linkStyle)
        if create {
            for dir in store.layoutDirectories { try FileIO.makeDirectories(dir) }
        } else {
            guard FileIO.isDirectory(path) else {
                throw StoreError(.notFound, "store not found: \(path) (expected a folder made by `fairgen ingest`; pass --store or set FAIRGEN_STORE)")
            }
            guard FileIO.isDirectory(path + "/objects/sha256") else {
                throw StoreError(.notFound, "\(path) is not a fairgen store: objects/sha256/ is missing")
            }
        }
        return store
    }

    /// Every folder of the layout, in creation order.
    var layoutDirectories: [String] {
        [rootPath, objects.root, tmpPath, keysPath, datasetsPath, locksPath, queuePath]
            + Store.queueStates.map { queuePath + "/" + $0 }
    }

    /// Path of a queue folder (`queue/pending` …), for the daemon.
    public func queueDirectory(_ state: String) -> URL {
        URL(fileURLWithPath: queuePath + "/" + state)
    }

    /// Checks a dataset name against DESIGN §9: `[a-z0-9][a-z0-9-]{0,63}` (so it is always a single,
    /// safe path component).
    public static func validateDatasetName(_ name: String) throws {
        let bytes = Array(name.utf8)
        let ok = !bytes.isEmpty && bytes.count <= 64 && bytes.enumerated().allSatisfy { index, b in
            (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || (b == 0x2d && index > 0)
        }
        if !ok {
            throw StoreError(.invalid, "invalid dataset name '\(name)': expected [a-z0-9][a-z0-9-]{0,63}")
        }
    }

    /// Checks a stage name: `[a-z0-9][a-z0-9._-]{0,63}` (a single path component under `keys/`).
    static func validateStageName(_ name: String) throws {
        let bytes = Array(name.utf8)
        let ok = !bytes.isEmpty && bytes.count <= 64 && bytes.enumerated().allSatisfy { index, b in
            (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)
                || (index > 0 && (b == 0x2d || b == 0x2e || b == 0x5f))
        }
        if !ok { throw StoreError(.invalid, "invalid stage name '\(name)': expected [a-z0-9][a-z0-9._-]{0,63}") }
    }
}
