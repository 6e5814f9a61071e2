import Testing
@testable import Tensors

@Suite struct RNGTests {
    @Test func sameSeedSameStream() {
        var a = RNG(seed: 42), b = RNG(seed: 42), c = RNG(seed: 43)
        let sa = (0..<8).map { _ in a.next() }
        let sb = (0..<8).map { _ in b.next() }
        let sc = (0..<8).map { _ in c.next() }
        #expect(sa == sb)
        #expect(sa != sc)
    }

    @Test func stateRoundTripResumesStream() {
        var a = RNG(seed: 7)
        for _ in 0..<100 { _ = a.next() }
        var b = RNG(state: a.state)
        #expect((0..<16).map { _ in a.next() } == (0..<16).map { _ in b.next() })
    }

    @Test func splitIsIndependentOfCallOrderAndDoesNotAdvance() {
        let a = RNG(seed: 1)
        var c3 = a.split(3), c5 = a.split(5)
        var c3again = a.split(3)
        #expect(c3.next() == c3again.next())
        #expect(c3.next() != c5.next())
        #expect(a == RNG(seed: 1))
    }

    @Test func normalMomentsAndUniformRange() {
        var rng = RNG(seed: 2024)
        var buf = [Float](repeating: 0, count: 200_001)
        buf.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let n = Double(buf.count)
        let mean = buf.reduce(0.0) { $0 + Double($1) } / n
        let varc = buf.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        #expect(abs(mean) < 0.01)
        #expect(abs(varc - 1) < 0.02)
        for _ in 0..<10_000 {
            let u = rng.uniform()
            #expect(u >= 0 && u < 1)
            let k = rng.int(below: 7)
            #expect(k >= 0 && k < 7)
        }
    }
}
