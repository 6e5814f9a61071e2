import Dispatch
import Testing
@testable import NN
@testable import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// The GEMM layers split batches into shards (Tensors/Shards.swift): results must not depend on the thread
/// count, the parallel path must really be taken with two threads, and an inference forward must equal a
/// training forward without keeping anything.
@Suite struct ShardedLayerTests {
    /// (output, ∂L/∂input, every parameter gradient) of one forward + backward at `threads` threads, and
    /// whether the shards ran concurrently.
    static func run(threads: Int, parameters: [Parameter], forward: () -> Tensor, backward: (Tensor) -> Tensor)
        -> (y: Tensor, dx: Tensor, grads: [Tensor], concurrent: Bool) {
        Parallel.withThreads(threads) {
            let before = Shards.concurrentRuns
            for p in parameters { p.zeroGrad() }
            let y = forward()
            let dx = backward(GradCheck.direction(y.shape, seed: 31))
            return (y, dx, parameters.map(\.grad), Shards.concurrentRuns > before)
        }
    }

    static func expectSameBytes(parameters: [Parameter], forward: () -> Tensor, backward: (Tensor) -> Tensor,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        let one = run(threads: 1, parameters: parameters, forward: forward, backward: backward)
        let two = run(threads: 2, parameters: parameters, forward: forward, backward: backward)
        #expect(!one.concurrent && two.concurrent, "the layer must take the parallel path", sourceLocation: sourceLocation)
        #expect(one.y.data == two.y.data, sourceLocation: sourceLocation)
        #expect(one.dx.data == two.dx.data, sourceLocation: sourceLocation)
        #expect(one.grads == two.grads, sourceLocation: sourceLocation)
        #expect(one.grads.allSatisfy { $0.data.contains { $0 != 0 } }, sourceLocation: sourceLocation)
    }

    @Test(arguments: [(3, 1, 1), (1, 1, 0), (3, 2, 1)])
    func convIsIdenticalForOneAndTwoThreads(_ cfg: (k: Int, s: Int, p: Int)) {
        var rng = RNG(seed: 41)
        let conv = Conv2d(name: "c", inChannels: 32, outChannels: 64, kernel: cfg.k, stride: cfg.s, padding: cfg.p, rng: &rng)
        let x = LayerTest.random([5, 32, 16, 16], seed: 42)
        Self.expectSameBytes(parameters: conv.parameters, forward: { conv.forward(x) }, backward: { conv.backward($0) })
    }

    @Test func linearIsIdenticalForOneAndTwoThreads() {
        var rng = RNG(seed: 43)
        let lin = Linear(name: "l", inFeatures: 256, outFeatures: 256, rng: &rng)
        let x = LayerTest.random([65, 256], seed: 44)
        Self.expectSameBytes(parameters: lin.parameters, forward: { lin.forward(x) }, backward: { lin.backward($0) })
    }

    @Test func attentionIsIdenticalForOneAndTwoThreads() {
        let attn = SpatialSelfAttention(heads: 4)
        let qkv = LayerTest.random([3, 96, 16, 16], seed: 45)
        let one = Self.run(threads: 1, parameters: [], forward: { attn.forward(qkv) }, backward: { attn.backward($0) })
        let two = Self.run(threads: 2, parameters: [], forward: { attn.forward(qkv) }, backward: { attn.backward($0) })
        #expect(!one.concurrent && two.concurrent)
        #expect(one.y.data == two.y.data && one.dx.data == two.dx.data)
    }

    /// Inference forwards give the training forward's bytes, keep nothing, and leave a pending backward intact.
    @Test func inferenceForwardEqualsTrainingForwardAndKeepsNothing() {
        var rng = RNG(seed: 46)
        let conv = Conv2d(name: "c", inChannels: 8, outChannels: 8, kernel: 3, padding: 1, rng: &rng)
        let point = Conv2d(name: "p", inChannels: 8, outChannels: 24, kernel: 1, rng: &rng)
        let lin = Linear(name: "l", inFeatures: 8, outFeatures: 4, rng: &rng)
        let norm = GroupNorm(name: "n", groups: 2, channels: 8)
        let attn = SpatialSelfAttention(heads: 2)
        let x = LayerTest.random([3, 8, 6, 6], seed: 47), v = LayerTest.random([3, 8], seed: 48)
        let other = LayerTest.random([3, 8, 6, 6], seed: 49)

        // Each layer: training forward on x, inference forward on other input, then backward for x.
        func check<L>(_ layer: L, input: Tensor, cached: (L) -> Int, forward: (L, Tensor, Bool) -> Tensor,
                      backward: (L, Tensor) -> Tensor, parameters: [Parameter], _ name: String) {
            for p in parameters { p.zeroGrad() }
            let y = forward(layer, input, false)
            let g = GradCheck.direction(y.shape, seed: 50)
            let dxRef = backward(layer, g)
            let gradsRef = parameters.map(\.grad)
            for p in parameters { p.zeroGrad() }
            let y2 = forward(layer, input, false)
            let held = cached(layer)
            #expect(held > 0, "\(name)")
            let yi = forward(layer, input, true)
            #expect(yi.data == y2.data && y2.data == y.data, "\(name): inference output differs")
            let perturbed = Tensor(shape: input.shape, data: input.data.map { $0 * 0.5 + 0.25 })
            _ = forward(layer, perturbed, true)
            #expect(cached(layer) == held, "\(name): inference changed the training cache")
            #expect(backward(layer, g).data == dxRef.data, "\(name): backward after inference differs")
            #expect(parameters.map(\.grad) == gradsRef, "\(name)")
        }
        check(conv, input: x, cached: { $0.cachedBytes }, forward: { $0.forward($1, inference: $2) },
              backward: { $0.backward($1) }, parameters: conv.parameters, "conv3x3")
        check(point, input: x, cached: { $0.cachedBytes }, forward: { $0.forward($1, inference: $2) },
              backward: { $0.backward($1) }, parameters: point.parameters, "conv1x1")
        check(lin, input: v, cached: { $0.cachedBytes }, forward: { $0.forward($1, inference: $2) },
              backward: { $0.backward($1) }, parameters: lin.parameters, "linear")
        check(norm, input: other, cached: { $0.cachedBytes }, forward: { $0.forward($1, inference: $2) },
              backward: { $0.backward($1) }, parameters: norm.parameters, "groupnorm")
        let qkv = LayerTest.random([3, 24, 6, 6], seed: 51)
        check(attn, input: qkv, cached: { $0.cachedBytes }, forward: { $0.forward($1, inference: $2) },
              backward: { $0.backward($1) }, parameters: [], "attention")

        // Layers that only ever ran inference forwards hold nothing.
        let freshConv = Conv2d(name: "f", inChannels: 8, outChannels: 8, kernel: 3, padding: 1, rng: &rng)
        let freshAttn = SpatialSelfAttention(heads: 2), freshNorm = GroupNorm(name: "m", groups: 2, channels: 8)
        let freshLin = Linear(name: "k", inFeatures: 8, outFeatures: 4, rng: &rng)
        _ = freshConv.forward(x, inference: true); _ = freshAttn.forward(qkv, inference: true)
        _ = freshNorm.forward(x, inference: true); _ = freshLin.forward(v, inference: true)
        #expect(freshConv.cachedBytes == 0 && freshAttn.cachedBytes == 0)
        #expect(freshNorm.cachedBytes == 0 && freshLin.cachedBytes == 0)
    }

    /// 1×1 convolutions never unfold: on a fresh thread (empty workspace), forward and backward at several
    /// resolutions — including batches that span many chunk widths — leave the column buffers untouched and
    /// match the direct convolution.
    @Test func pointwiseConvNeverUsesIm2col() {
        let result = Locked<[String]>([])
        let done = DispatchSemaphore(value: 0)
        spawnThread {
            var rng = RNG(seed: 52)
            let conv = Conv2d(name: "p", inChannels: 6, outChannels: 5, kernel: 1, rng: &rng)
            var problems: [String] = []
            for (n, r) in [(9, 2), (5, 8), (3, 32), (70, 4)] {
                let x = LayerTest.random([n, 6, r, r], seed: UInt64(n * 100 + r))
                let y = conv.forward(x)
                if LayerTest.worst(y, Conv2dTests.naive(x, conv)) > 1 { problems.append("forward \(n)×\(r)²") }
                _ = conv.backward(GradCheck.direction(y.shape, seed: 3))
            }
            let ws = Workspace.current
            for s in 0..<Shards.maxCount where ws.capacity(.columns, shard: s) != 0 {
                problems.append("shard \(s) allocated \(ws.capacity(.columns, shard: s)) column floats")
            }
            if ws.capacity(.weightGrad, shard: 0) == 0 { problems.append("backward did not run through the shards") }
            result.withLock { $0 = problems }
            done.signal()
        }
        done.wait()
        #expect(result.withLock { $0 } == [])
    }
}

/// Runs `body` on a new plain pthread (not a pool thread), so its thread-local workspace starts empty.
func spawnThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ b: @escaping @Sendable () -> Void) { body = b }
    }
    var tid = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&tid, nil, { p in
        Unmanaged<Box>.fromOpaque(p!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed")
    pthread_detach(tid)
}
