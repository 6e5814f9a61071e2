import Testing
@testable import NN
@testable import Tensors

/// The Winograd F(2×2, 3×3) path of `Conv2d` (3×3, stride 1, pad 1): PyTorch parity, finite differences,
/// agreement with the im2col path, chunking, thread-count independence and the switch.
@Suite struct WinogradTests {
    /// Largest |a − b| / max(1, |b|) — the tolerance unit of these tests is 1e-4 of that (absolute below
    /// magnitude 1, relative above): Winograd rounds differently from a direct sum (its transforms add and
    /// subtract up to 4 × 4 terms of the size of the largest input before the channel sum), so it gets an
    /// absolute floor instead of the 1e-5 one of LayerParityTests. Infinity when any element is NaN/∞.
    static func worst(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.shape == b.shape, "compare \(a.shape) vs \(b.shape)")
        var w: Float = 0
        for i in 0..<a.count {
            guard a.data[i].isFinite && b.data[i].isFinite else { return .infinity }
            w = max(w, abs(a.data[i] - b.data[i]) / max(1, abs(b.data[i])))
        }
        return w
    }

    static let tolerance: Float = 1e-4

    /// Largest |a − b| over the largest |b|: the error of a long float32 sum (weight gradients over
    /// thousands of pixels) is relative to the size of the terms, not to each (possibly cancelled) result.
    static func worstOfMax(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.shape == b.shape, "compare \(a.shape) vs \(b.shape)")
        var e = 0.0, m = 0.0
        for i in 0..<a.count {
            guard a.data[i].isFinite && b.data[i].isFinite else { return .infinity }
            e = max(e, Double(abs(a.data[i] - b.data[i]))); m = max(m, Double(abs(b.data[i])))
        }
        return e / max(m, 1e-30)
    }

    /// y, dx, dweight, dbias of a 3×3/stride-1/pad-1 conv by direct sums in Double (rounded at the end).
    static func reference(_ conv: Conv2d, _ x: Tensor, _ g: Tensor) -> (y: Tensor, dx: Tensor, dw: Tensor, db: Tensor) {
        let n = x.shape[0], ci = x.shape[1], h = x.shape[2], w = x.shape[3], co = conv.outChannels
        let xd = x.data.map(Double.init), gd = g.data.map(Double.init), wd = conv.weight.value.data.map(Double.init)
        var y = [Double](repeating: 0, count: n * co * h * w), dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: wd.count), db = [Double](repeating: 0, count: co)
        for b in 0..<n { for o in 0..<co { for i in 0..<h { for j in 0..<w {
            let yi = ((b * co + o) * h + i) * w + j
            var acc = Double(conv.bias!.value.data[o])
            db[o] += gd[yi]
            for c in 0..<ci { for ki in 0..<3 { for kj in 0..<3 {
                let ih = i - 1 + ki, iw = j - 1 + kj
                if ih < 0 || ih >= h || iw < 0 || iw >= w { continue }
                let xi = ((b * ci + c) * h + ih) * w + iw, wi = ((o * ci + c) * 3 + ki) * 3 + kj
                acc += xd[xi] * wd[wi]
                dx[xi] += gd[yi] * wd[wi]
                dw[wi] += gd[yi] * xd[xi]
            }}}
            y[yi] = acc
        }}}}
        func t(_ v: [Double], _ s: [Int]) -> Tensor { Tensor(shape: s, data: v.map { Float($0) }) }
        return (t(y, [n, co, h, w]), t(dx, x.shape), t(dw, conv.weight.shape), t(db, [co]))
    }


    static func conv(_ cin: Int, _ cout: Int, seed: UInt64, winograd: Bool) -> Conv2d {
        var rng = RNG(seed: seed)
        let c = Conv2d(name: "m", inChannels: cin, outChannels: cout, kernel: 3, stride: 1, padding: 1, rng: &rng)
        c.winograd = winograd
        return c
    }

    /// (y, dx, dweight, dbias) of one forward + backward from zeroed gradients.
    static func run(_ conv: Conv2d, _ x: Tensor, _ g: Tensor) -> (y: Tensor, dx: Tensor, dw: Tensor, db: Tensor) {
        for p in conv.parameters { p.zeroGrad() }
        let y = conv.forward(x)
        let dx = conv.backward(g)
        return (y, dx, conv.weight.grad, conv.bias!.grad)
    }

    /// Fixtures from Tests/Fixtures/torch/make_winograd_fixtures.py (float64 PyTorch reference): odd and
    /// even sizes, and 1-pixel-high / 1-pixel-wide images. Both paths must match, Winograd and im2col.
    @Test(arguments: ["conv3x3_winograd", "conv3x3_winograd_h1", "conv3x3_winograd_w1"], [true, false])
    func matchesPyTorch(_ name: String, _ winograd: Bool) throws {
        let f = try EngineFixture(name)
        let x = f["x"], cin = x.shape[1], cout = f["p.weight"].shape[0]
        let conv = Self.conv(cin, cout, seed: 0, winograd: winograd)
        f.load(conv.parameters, stripping: "m.")
        #expect(conv.usesWinograd(height: x.shape[2], width: x.shape[3]) == winograd)
        let r = Self.run(conv, x, f["g"])
        #expect(Self.worst(r.y, f["y"]) <= Self.tolerance, "y")
        #expect(Self.worst(r.dx, f["dx"]) <= Self.tolerance, "dx")
        #expect(Self.worst(r.dw, f["grad.weight"]) <= Self.tolerance, "dweight")
        #expect(Self.worst(r.db, f["grad.bias"]) <= Self.tolerance, "dbias")
    }

    /// Central differences through the Winograd forward, input and parameters, on odd sizes (partial tiles
    /// in both directions) and a 1-pixel-wide image.
    @Test(arguments: [[2, 3, 5, 7], [1, 2, 3, 1]])
    func gradientsMatchFiniteDifferences(_ shape: [Int]) {
        let conv = Self.conv(shape[1], 4, seed: 21, winograd: true)
        let x = LayerTest.random(shape, seed: 6)
        LayerTest.check(parameters: conv.parameters, input: x, outputShape: [shape[0], 4, shape[2], shape[3]],
                        forward: { conv.forward($0) }, backward: { conv.backward($0) }, rel: 1e-2)
    }

    /// Both paths against the Double reference and against each other, per tensor: max |error| ≤ 1e-5 ×
    /// the tensor's largest |value| (measured: ≤ 6e-7 for either path; the per-element rule above would
    /// fail im2col too, on weight-gradient entries that cancel to near zero from sums over 10⁴ terms).
    static func expectClose(_ a: (y: Tensor, dx: Tensor, dw: Tensor, db: Tensor),
                            _ b: (y: Tensor, dx: Tensor, dw: Tensor, db: Tensor),
                            _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, e) in [("y", worstOfMax(a.y, b.y)), ("dx", worstOfMax(a.dx, b.dx)),
                          ("dweight", worstOfMax(a.dw, b.dw)), ("dbias", worstOfMax(a.db, b.db))] {
            #expect(e <= 1e-5, "\(what) \(name): \(e)", sourceLocation: sourceLocation)
        }
    }

    /// A larger case where every GEMM has real depth: Winograd, im2col and the Double reference agree on
    /// y, dx, dweight and dbias, and Winograd is not bit-identical to im2col (its path really ran).
    @Test func agreesWithIm2colAndDoubleReference() {
        let x = LayerTest.random([3, 16, 13, 16], seed: 7), g = LayerTest.random([3, 32, 13, 16], seed: 8)
        let conv = Self.conv(16, 32, seed: 9, winograd: true)
        let w = Self.run(conv, x, g)
        let i = Self.run(Self.conv(16, 32, seed: 9, winograd: false), x, g)
        let ref = Self.reference(conv, x, g)
        Self.expectClose(w, i, "winograd vs im2col")
        Self.expectClose(w, ref, "winograd vs reference")
        Self.expectClose(i, ref, "im2col vs reference")
        #expect(Self.worst(w.y, ref.y) <= Self.tolerance && Self.worst(w.dx, ref.dx) <= Self.tolerance)
        #expect(w.y.data != i.y.data && w.dx.data != i.dx.data && w.dw.data != i.dw.data)
    }

    /// 40 images of 16×16 (64 tiles each) are 2 shards of 20 images, each cut into chunks of 16 + 4 images
    /// (1024 tiles per chunk): the weight gradient accumulates over chunks, the last chunk is partial. Also
    /// byte-identical at one and two threads, with the two-thread run taking the concurrent path.
    @Test func chunksAndShardsMatchReferenceAndAreThreadIndependent() {
        let x = LayerTest.random([40, 8, 16, 16], seed: 10), g = LayerTest.random([40, 16, 16, 16], seed: 11)
        let conv = Self.conv(8, 16, seed: 12, winograd: true)
        #expect(Conv2d.winogradTargetTiles / 64 == 16, "the test assumes 16 images per chunk")
        func at(_ threads: Int) -> (r: (y: Tensor, dx: Tensor, dw: Tensor, db: Tensor), concurrent: Bool) {
            Parallel.withThreads(threads) {
                let before = Shards.concurrentRuns
                return (Self.run(conv, x, g), Shards.concurrentRuns > before)
            }
        }
        let one = at(1), two = at(2)
        #expect(!one.concurrent && two.concurrent)
        #expect(one.r.y.data == two.r.y.data && one.r.dx.data == two.r.dx.data)
        #expect(one.r.dw.data == two.r.dw.data && one.r.db.data == two.r.db.data)
        Self.expectClose(one.r, Self.reference(conv, x, g), "winograd vs reference")
    }

    /// Without an input gradient the backward still gives the same parameter gradients.
    @Test func weightGradientWithoutInputGradient() {
        let x = LayerTest.random([2, 4, 9, 10], seed: 13), g = LayerTest.random([2, 6, 9, 10], seed: 14)
        let conv = Self.conv(4, 6, seed: 15, winograd: true)
        let full = Self.run(conv, x, g)
        conv.needsInputGradient = false
        let noDx = Self.run(conv, x, g)
        #expect(noDx.dx.count == 0)
        #expect(noDx.dw.data == full.dw.data && noDx.db.data == full.db.data)
    }

    /// Only 3×3 / stride 1 / pad 1 takes the Winograd path: other 3×3 convs give the im2col bytes even when
    /// Winograd is asked for.
    @Test(arguments: [(3, 2, 1), (3, 1, 0), (3, 1, 2), (1, 1, 0)])
    func otherGeometriesKeepIm2col(_ cfg: (k: Int, s: Int, p: Int)) {
        var rng = RNG(seed: 16)
        let on = Conv2d(name: "c", inChannels: 3, outChannels: 5, kernel: cfg.k, stride: cfg.s, padding: cfg.p, rng: &rng)
        on.winograd = true
        #expect(!on.usesWinograd(height: 8, width: 8))
        let off = Conv2d(name: "c", inChannels: 3, outChannels: 5, kernel: cfg.k, stride: cfg.s, padding: cfg.p, rng: &rng)
        off.weight.value = on.weight.value; off.bias!.value = on.bias!.value
        off.winograd = false
        let x = LayerTest.random([2, 3, 8, 8], seed: 17)
        let a = on.forward(x), b = off.forward(x)
        #expect(a.data == b.data)
        let g = LayerTest.random(a.shape, seed: 18)
        #expect(on.backward(g).data == off.backward(g).data)
        #expect(on.weight.grad.data == off.weight.grad.data)
    }

    @Test func environmentSwitch() {
        #expect(Conv2d.winogradSetting(environment: nil))
        #expect(Conv2d.winogradSetting(environment: "1"))
        for off in ["0", "false", "OFF", "no"] { #expect(!Conv2d.winogradSetting(environment: off), "\(off)") }
        // A layer without its own choice follows the process-wide switch (on by default).
        var rng = RNG(seed: 19)
        let conv = Conv2d(name: "c", inChannels: 2, outChannels: 2, kernel: 3, padding: 1, rng: &rng)
        #expect(conv.winograd == nil)
        #expect(conv.usesWinograd(height: 8, width: 8) == Conv2d.winogradEnabled)
    }
}
