import Foundation
import Testing
@testable import Datasets

/// Issue 12: decoded-pixel amplification. Tiny PNGs referenced at big resolutions are refused from
/// their headers before their pixels exist, and entries the table never references are not decoded.
@Suite struct PixelBudgetTests {
    /// `count` 1×1 RGB PNGs (70-odd bytes each) and a table naming them all.
    static func tinyDrop(count: Int, tableFirst: Bool = true) throws -> [DropEntry] {
        var csv = "path,diagnosis,skin_tone,split\n"
        var images: [DropEntry] = []
        for i in 0..<count {
            csv += "img/\(i).png,\(i % 2 == 0 ? "eczema" : "melanoma"),light,train\n"
            images.append(.file("img/\(i).png", try PNGCodec.encode(DropBuilder.pattern(channels: 3, height: 1, width: 1, seed: i))))
        }
        let table = DropEntry.file("metadata.csv", Array(csv.utf8))
        return tableFirst ? [table] + images : images + [table]
    }

    static func ingest(_ path: String, limits: IngestLimits, resolutions: [Int]) throws -> (IngestedDataset, IngestStats) {
        let manifest = try Manifest.load(path: path)
        var stats = IngestStats()
        let d = try ingestArchive(manifest: manifest, archivePath: Manifest.archivePath(manifestPath: path, archive: manifest.archive),
                                  limits: limits, resolutions: resolutions, stats: &stats)
        return (d, stats)
    }

    @Test func tinyPNGsAtABigResolutionAreRefusedFromTheTableWithDefaultLimits() throws {
        // 2,100 rows at 1024×1024 need at least 2,100 × 1 MiB (one channel), over the 2 GiB default:
        // refused as soon as the table is read, before a single image is decoded.
        let dir = DropBuilder.tempDir()
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: try Self.tinyDrop(count: 2100))
        let archiveSize = try FileManager.default.attributesOfItem(atPath: dir + "/toy.tar.gz")[.size] as! Int
        #expect(archiveSize < 200_000, "the point is a small archive: \(archiveSize) bytes")
        var stats = IngestStats()
        do {
            let manifest = try Manifest.load(path: path)
            _ = try ingestArchive(manifest: manifest, archivePath: dir + "/toy.tar.gz", limits: IngestLimits(), resolutions: [32, 1024], stats: &stats)
            Issue.record("accepted")
        } catch let e as DatasetError {
            #expect(e.code == .pixelBudget)
            #expect(e.description == "\(dir)/toy.tar.gz: metadata.csv: found 2100 rows at 32×32, 1024×1024 needing at least 2.1 GiB (one channel per image), expected at most 2 GiB of pixels at the pipeline resolutions per drop (IngestLimits.maxResizedBytes)", "\(e)")
        }
        #expect(stats.decodedImages == 0)
    }

    @Test func budgetIsChargedFromHeadersAndNamesTheEntryThatBreaksIt() throws {
        let dir = DropBuilder.tempDir()
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar"), kind: .tar,
                                         entries: try Self.tinyDrop(count: 200))
        // 64×64 RGB is 12 KiB per image: 85 images fit in 1 MiB, the 86th (img/85.png) does not.
        let limits = IngestLimits(maxResizedBytes: 1 << 20)
        do { _ = try Self.ingest(path, limits: limits, resolutions: [64]); Issue.record("accepted") } catch let e as DatasetError {
            #expect(e.code == .pixelBudget)
            #expect(e.description == "\(dir)/toy.tar: entry \"img/85.png\": found a 1×1 PNG needing 12.0 KiB at 64×64, on top of 1020.0 KiB for the entries before it, expected at most 1 MiB of pixels at the pipeline resolutions per drop (IngestLimits.maxResizedBytes)", "\(e)")
        }
        // The decoded budget: an 8-bit RGB header is charged width × height × 4 (room for a tRNS alpha).
        let tight = IngestLimits(maxDecodedBytes: 10 * 4)
        do { _ = try Self.ingest(path, limits: tight, resolutions: [2]); Issue.record("accepted") } catch let e as DatasetError {
            #expect(e.code == .pixelBudget && e.location == "entry \"img/10.png\"" && e.expected.contains("IngestLimits.maxDecodedBytes"), "\(e)")
        }
        // Within budget: ingests, and reports exactly what it charged.
        let (d, stats) = try Self.ingest(path, limits: IngestLimits(maxDecodedBytes: 200 * 4, maxResizedBytes: 200 * 3 * 4), resolutions: [2])
        #expect(d.images[0].count == 200 && stats.decodedImages == 200)
        #expect(stats.decodedBytes == 200 * 4 && stats.resizedBytes == 200 * 3 * 4)
    }

    @Test func assembledSetsAreCheckedWithTheirFinalChannelCount() throws {
        // One colour image makes every gray image 3-channel in the image set: 1 + 3 per-image charge
        // fits, the assembled 2 × 3 planes do not.
        let dir = DropBuilder.tempDir()
        let csv = "path,diagnosis,skin_tone,split\na.png,eczema,light,train\nb.png,melanoma,dark,train\n"
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar"), kind: .tar, entries: [
            .file("metadata.csv", Array(csv.utf8)),
            .file("a.png", try PNGCodec.encode(DropBuilder.pattern(channels: 1, height: 4, width: 4, seed: 1))),
            .file("b.png", try PNGCodec.encode(DropBuilder.pattern(channels: 3, height: 4, width: 4, seed: 2)))])
        do { _ = try Self.ingest(path, limits: IngestLimits(maxResizedBytes: 4 * 64), resolutions: [8]); Issue.record("accepted") } catch let e as DatasetError {
            #expect(e.code == .pixelBudget && e.found == "2 images × 3 channels at 8 px = 384 bytes", "\(e)")
        }
        #expect(try Self.ingest(path, limits: IngestLimits(maxResizedBytes: 6 * 64), resolutions: [8]).0.images[0].channels == 3)
    }

    @Test func unreferencedEntriesAreNeitherDecodedNorCharged() throws {
        // PNGs before the table (held until the table is known) and after it: only the 4 referenced
        // ones are decoded. The unreferenced ones include a broken PNG and one whose header alone would
        // break the decoded budget.
        let dir = DropBuilder.tempDir()
        var entries: [DropEntry] = [.file("extra/broken.png", [0x89, 0x50, 1, 2]), .file("extra/huge.png", DropBuilder.pngDeclaring(width: 8000, height: 8000))]
        for i in 0..<10 { entries.append(.file("extra/\(i).png", try PNGCodec.encode(DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: i)))) }
        let valid = DropBuilder.validEntries(count: 4, tableFirst: false)
        entries += valid + [.file("extra/late.png", try PNGCodec.encode(DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: 0)))]
        let path = DropBuilder.writeDrop(dir: dir, manifest: DropBuilder.manifest(archive: "toy.tar.gz"), entries: entries)
        let limits = IngestLimits(maxDecodedBytes: 4 * 8 * 8 * 4)
        let (d, stats) = try Self.ingest(path, limits: limits, resolutions: [4, 8])
        #expect(stats.decodedImages == 4)
        #expect(stats.decodedBytes == 4 * 8 * 8 * 4 && stats.resizedBytes == 4 * 3 * (16 + 64))
        #expect(d.images(at: 8)!.image(3) == DropBuilder.pattern(channels: 3, height: 8, width: 8, seed: 3))
    }
}
