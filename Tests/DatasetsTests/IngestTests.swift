import Foundation
import Testing
import Tensors
@testable import Datasets

/// Ingests and returns the error.
func ingestError(_ manifestPath: String, limits: IngestLimits = IngestLimits()) -> DatasetError? {
    do { _ = try ingestDrop(manifestPath: manifestPath, limits: limits); return nil } catch let e as DatasetError { return e } catch {
        return nil
    }
}

@Suite struct IngestTests {
    @Test(arguments: [(ArchiveKind.tar, true), (.tarGz, true), (.zip, true), (.tarZst, true), (.tarGz, false)])
    func validDropsIngest(kind: ArchiveKind, tableFirst: Bool) throws {
        let dir = DropBuilder.tempDir()
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.\(kind.rawValue)"), kind: kind,
                                         entries: DropBuilder.validEntries(count: 6, tableFirst: tableFirst) + [.file("img/unused.png", [1, 2])])
        let d = try ingestDrop(manifestPath: path)
        #expect(d.manifest.name == "toy" && d.table.rows.count == 6)
        #expect(d.table.rows.map(\.path) == (0..<6).map { "img/\($0).png" })
        #expect(d.table.rows[0].label == [1, 0] && d.table.rows[1].label == [0, 1] && !d.table.rows[2].isLabeled)
        #expect(d.table.attributeValues == [["dark", "light"]] && d.table.rows.map { $0.attributes[0] } == [1, 0, 1, -1, 1, 0])
        #expect(d.table.rows.map(\.split) == [.train, .val, .testID, .testOOD, .unlabeled, .train])
        #expect(d.images.map(\.resolution) == [4, 8] && d.images.allSatisfy { $0.channels == 3 && $0.count == 6 })
        let batch = d.images(at: 8)!.batch([2, 0])
        #expect(batch.shape == [2, 3, 8, 8])
        #expect(batch.data == DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: 2).data
                + DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: 0).data)
        // 8×8 images at resolution 8 come through unchanged (pixel values exact on the 8-bit grid).
        for i in 0..<6 {
            #expect(d.images(at: 8)!.image(i) == DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: i))
            let expected4 = ImageOps.resizeBilinear(DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: i), height: 4, width: 4, antialias: true)
            let got4 = d.images(at: 4)!.image(i)
            #expect(zip(got4.data, expected4.data).allSatisfy { abs($0 - $1) <= 0.5 / 255 + 1e-6 })
        }
    }

    @Test func grayDatasetsStayOneChannelAndMixedBecomeRGB() throws {
        let dir = DropBuilder.tempDir()
        let gray = DropBuilder.pattern(channels: 1, height: 8, width: 8, seed: 9)
        let csv = "path,diagnosis,skin_tone,split\na.png,eczema,light,train\nb.png,melanoma,dark,train\n"
        var path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar"), kind: .tar, entries: [
            .file("metadata.csv", Array(csv.utf8)), .file("a.png", try PNGCodec.encode(gray)), .file("b.png", try PNGCodec.encode(gray))])
        var d = try ingestDrop(manifestPath: path, resolutions: [8])
        #expect(d.images.count == 1 && d.images[0].channels == 1 && d.images[0].image(1) == gray)
        path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar"), kind: .tar, entries: [
            .file("metadata.csv", Array(csv.utf8)), .file("a.png", try PNGCodec.encode(gray)),
            .file("b.png", try PNGCodec.encode(DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: 2)))])
        d = try ingestDrop(manifestPath: path, resolutions: [8])
        #expect(d.images[0].channels == 3)
        let a = d.images[0].image(0)
        #expect(Array(a.data[0..<64]) == gray.data && Array(a.data[128..<192]) == gray.data)
    }

    @Test func missingImagesNameRowAndPath() {
        let dir = DropBuilder.tempDir()
        var entries = DropBuilder.validEntries(count: 4)
        entries.removeAll { $0.name == "img/2.png" }
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: entries)
        let e = ingestError(path)
        #expect(e?.code == .missingImage && e?.row == 4 && e?.column == "path")
        #expect(e?.description == "\(dir)/toy.tar.gz: metadata.csv row 4, column \"path\": found \"img/2.png\", which is not in the archive, expected a path of a PNG entry in the archive")
    }

    @Test func missingTableAndBadImagesThroughIngest() throws {
        let dir = DropBuilder.tempDir()
        var entries = DropBuilder.validEntries(count: 3)
        entries.removeAll { $0.name == "metadata.csv" }
        var path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: entries)
        #expect(ingestError(path)?.code == .tableMissing)
        // A referenced PNG declaring huge dimensions, and a truncated one: errors name the entry.
        for (bytes, code) in [(DropBuilder.pngDeclaring(width: 50_000, height: 40), DatasetError.Code.pngTooLarge),
                              (Array(try PNGCodec.encode(DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: 0)).prefix(50)), .pngCorrupt)] {
            var hostile = DropBuilder.validEntries(count: 3)
            hostile[hostile.firstIndex { $0.name == "img/1.png" }!] = .file("img/1.png", bytes)
            path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: hostile)
            let e = ingestError(path)
            #expect(e?.code == code && e?.description.hasPrefix("\(dir)/toy.tar.gz: entry \"img/1.png\": found") == true)
        }
        // An unreferenced broken PNG is ignored.
        path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"),
                                     entries: [.file("junk.png", [1, 2, 3])] + DropBuilder.validEntries(count: 3, tableFirst: false))
        #expect(ingestError(path) == nil)
    }

    @Test func hostileArchivesFailThroughIngestWithTheArchiveNamed() {
        let dir = DropBuilder.tempDir()
        let cases: [([DropEntry], DatasetError.Code)] = [
            ([.file("../x.png", [1])], .pathTraversal),
            ([.file("/x.png", [1])], .absolutePath),
            ([.symlink("img/0.png", target: "/etc/passwd")], .linkEntry),
            ([.file("metadata.csv", [1])], .duplicateEntry),
        ]
        for (extra, code) in cases {
            let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"),
                                             entries: DropBuilder.validEntries(count: 2) + extra)
            let e = ingestError(path)
            #expect(e?.code == code && e?.file == "\(dir)/toy.tar.gz")
        }
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: DropBuilder.validEntries(count: 6))
        #expect(ingestError(path, limits: IngestLimits(archive: ArchiveLimits(maxEntries: 4)))?.code == .tooManyEntries)
        #expect(ingestError(path, limits: IngestLimits(maxImageSide: 4))?.code == .pngTooLarge)
        // A bomb posing as a referenced image, default limits: stopped by the ratio rule.
        var bomb = DropBuilder.validEntries(count: 2)
        bomb[bomb.firstIndex { $0.name == "img/1.png" }!] = .zeros("img/1.png", 64 << 20)
        let bombPath = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: bomb)
        let e = ingestError(bombPath)
        #expect(e?.code == .compressionRatio && e?.description.hasPrefix("\(dir)/toy.tar.gz: entry \"img/1.png\"") == true)
        // An empty table is refused.
        let empty = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"),
                                          entries: [.file("metadata.csv", Array("path,diagnosis,skin_tone,split\n".utf8))])
        #expect(ingestError(empty)?.code == .invalidCell)
    }

    @Test func datasetObjectIsDeterministicAndRoundTrips() throws {
        let dir = DropBuilder.tempDir()
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: DropBuilder.validEntries(count: 6))
        let a = try ingestDrop(manifestPath: path)
        let b = try ingestDrop(manifestPath: path)
        let bytesA = a.encode(), bytesB = b.encode()
        #expect(bytesA == bytesB)
        #expect(Array(bytesA[0..<8]) == [0x46, 0x47, 0x44, 0x53, 2, 0, 0, 0])
        let back = try IngestedDataset.decode(bytesA)
        #expect(back == a && back.encode() == bytesA)
        // A different drop gives different bytes; damaged objects are refused.
        var changed = a
        changed.images[0].pixels[0] ^= 1
        #expect(changed.encode() != bytesA)
        #expect(throws: DatasetError.self) { try DatasetObject.decode(Array(bytesA.dropLast())) }
        #expect(throws: DatasetError.self) { try DatasetObject.decode([0x46, 0x47, 0x44, 0x54] + bytesA.dropFirst(4)) }
        var badHeader = bytesA
        badHeader[20] = 0x7B
        #expect(throws: DatasetError.self) { try DatasetObject.decode(badHeader) }
    }
}
