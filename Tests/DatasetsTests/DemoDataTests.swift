import Foundation
import Testing
@testable import Datasets
import Tensors

@Suite struct DemoDataTests {
    static let small: DemoData.Spec = {
        var s = DemoData.Spec()
        s.train = 300; s.val = 40; s.testID = 90; s.testOOD = 90; s.unlabeled = 90
        return s
    }()

    @Test func deterministicForASeed() {
        let a = DemoData.generate(Self.small), b = DemoData.generate(Self.small)
        #expect(a.count == b.count)
        #expect(zip(a, b).allSatisfy { $0.image == $1.image && $0.label == $1.label && $0.path == $1.path })
        var other = Self.small
        other.seed = 7
        #expect(DemoData.generate(other)[0].image != a[0].image)
    }

    @Test func trainingSplitIsSkewedAgainstDarkTonesAndTestIsBalanced() {
        let ex = DemoData.generate(Self.small)
        func share(_ split: String, _ group: Int) -> Double {
            let s = ex.filter { $0.split == split }
            return Double(s.filter { $0.toneGroup == group }.count) / Double(s.count)
        }
        #expect(share("train", 2) < 0.12)
        #expect(share("train", 0) > 0.55)
        #expect(abs(share("test_id", 2) - 1.0 / 3) < 0.15)
        #expect(share("test_ood", 2) > 0.35)
        #expect(Set(ex.map(\.path)).count == ex.count)
    }

    /// Lesion pixels differ from skin, and darker skin lowers the contrast (the shift the demo is about).
    @Test func imagesAreInRangeAndContrastFallsWithTone() {
        let ex = DemoData.generate(Self.small)
        for e in ex { #expect(e.image.data.allSatisfy { $0 >= 0 && $0 <= 1 }) }
        func contrast(_ e: DemoData.Example) -> Float {
            let d = e.image.data
            let lo = d.min()!, hi = d.max()!
            return hi - lo
        }
        let light = ex.filter { $0.fitzpatrick == 1 && $0.label == 0 }.map(contrast)
        let dark = ex.filter { $0.fitzpatrick == 6 && $0.label == 0 }.map(contrast)
        #expect(!light.isEmpty && !dark.isEmpty)
        let meanLight = light.reduce(0, +) / Float(max(1, light.count))
        let meanDark = dark.reduce(0, +) / Float(max(1, dark.count))
        #expect(meanLight > meanDark)
        if let path = ProcessInfo.processInfo.environment["FAIRGEN_DUMP_DEMO"] {
            var bytes = [UInt8]()
            for e in ex.prefix(96) {
                bytes += e.image.data.map { UInt8(($0 * 255).rounded()) }
                bytes += [UInt8(e.label), UInt8(e.fitzpatrick)]
            }
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
    }
}
