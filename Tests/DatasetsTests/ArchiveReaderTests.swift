import Foundation
import Testing
@testable import Datasets

@Suite struct ArchiveReaderTests {
    @Test func readsTarGzEntries() throws {
        let dir = DropBuilder.tempDir()
        let path = dir + "/a.tar.gz"
        DropBuilder.writeArchive(path, kind: .tarGz, entries: [.directory("d"), .file("./d/x.txt", Array("hello".utf8)), .file("y", [1, 2, 3])])
        var got: [String: [UInt8]] = [:]
        try ArchiveReader(path: path).forEachEntry { got[$0.name] = $0.bytes }
        #expect(got == ["d/x.txt": Array("hello".utf8), "y": [1, 2, 3]])
    }
}
