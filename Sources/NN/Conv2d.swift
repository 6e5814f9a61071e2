import CKernels
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// 2-D convolution (cross-correlation, as PyTorch), any kernel / stride / padding, via im2col + GEMM.
///
/// Shapes: x `[N, Cin, H, W]` → y `[N, Cout, Ho, Wo]`, Ho = (H + 2p − k)/s + 1.
/// weight `[Cout, Cin, k, k]` (PyTorch layout), bias `[Cout]`.
/// The batch is split into `Shards` that run concurrently, each with single-threaded sgemm. Within a shard,
/// images are processed in chunks of `b` images whose columns sit side by side in one `[Cin·k·k, b·Ho·Wo]`
/// matrix, so each chunk is one GEMM (`[Cout, K] × [K, b·Ho·Wo]`) wide enough to run well even at 8×8.
/// Column and staging buffers come from the thread's shared `Workspace`, not from the layer.
/// A 1×1/stride-1/pad-0 conv never unfolds: each image already is its `[Cin, H·W]` column matrix, so it
/// runs one GEMM per image straight into the output.
/// Forward caches the input `x` (shared storage, no copy; not with `inference`); backward recomputes the
/// columns.
/// A 3×3/stride-1/pad-1 conv (almost every conv of the UNet and ResNet) runs Winograd F(2×2, 3×3) instead
/// when `winogradEnabled`: 16 GEMMs `[Cout, Cin] × [Cin, tiles]` on transformed weights and inputs — 2.25×
/// fewer multiply-adds and no im2col — with the exact chain rule through the same transforms in backward
/// (see the extension below and docs/performance.md, "Winograd").
public final class Conv2d {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// Parameters in PyTorch `named_parameters()` order.
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }
    /// When false, `backward` skips ∂L/∂x (e.g. the first conv of a network) and returns an empty tensor.
    public var needsInputGradient = true

    /// Target width (columns) of one chunk GEMM.
    static let targetColumns = 4096

    /// Whether 3×3 / stride-1 / pad-1 convolutions run Winograd F(2×2, 3×3) instead of im2col + GEMM.
    /// Default true; false when the environment variable `FAIRGEN_WINOGRAD` is `0` (or `false`, `off`,
    /// `no`) when first read. Set it before layers run (it is read at every forward and backward).
    nonisolated(unsafe) public static var winogradEnabled: Bool =
        winogradSetting(environment: getenv("FAIRGEN_WINOGRAD").map { String(cString: $0) })

    /// The `FAIRGEN_WINOGRAD` rule: unset or any other value → on.
    static func winogradSetting(environment value: String?) -> Bool {
        guard let value else { return true }
        return !["0", "false", "off", "no"].contains(value.lowercased())
    }

    /// This layer's choice, overriding `winogradEnabled` when set: true → Winograd if the layer is
    /// 3×3/stride-1/pad-1, false → im2col. (Tests compare both paths on one layer without touching the
    /// process-wide switch that other tests read concurrently.)
    public var winograd: Bool?

    private var input = Tensor(zeros: [0])

    /// Weights and bias ~ U(−1/√fan_in, 1/√fan_in) (PyTorch's default init), fan_in = Cin·k·k.
    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, rng: inout RNG) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0 && padding >= 0,
                     "Conv2d \(name): bad configuration")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
        var w = Tensor(zeros: [outChannels, inChannels, kernel, kernel])
        w.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -bound, high: bound) }
        self.weight = Parameter(name: name + ".weight", value: w)
        if bias {
            var b = Tensor(zeros: [outChannels])
            b.withUnsafeMutableBufferPointer { rng.fillUniform($0, low: -bound, high: bound) }
            self.bias = Parameter(name: name + ".bias", value: b)
        } else {
            self.bias = nil
        }
    }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Bytes this layer holds for a later `backward` (the cached input; 0 after an inference forward).
    public var cachedBytes: Int { input.count * MemoryLayout<Float>.size }

    private func geometry(_ x: Tensor) -> (n: Int, h: Int, w: Int, ho: Int, wo: Int, chunk: Int) {
        precondition(x.rank == 4 && x.shape[1] == inChannels,
                     "Conv2d: input \(x.shape), expected [N, \(inChannels), H, W]")
        let h = x.shape[2], w = x.shape[3]
        let ho = Im2Col.outputSize(h, kernel: kernel, stride: stride, padding: padding)
        let wo = Im2Col.outputSize(w, kernel: kernel, stride: stride, padding: padding)
        precondition(ho > 0 && wo > 0, "Conv2d: input \(x.shape) too small for kernel \(kernel)")
        let chunk = Swift.max(1, Swift.min(x.shape[0], Conv2d.targetColumns / (ho * wo)))
        return (x.shape[0], h, w, ho, wo, chunk)
    }

    /// Fills `col` with the column matrix of images `start..<start+b` (row pitch b·Ho·Wo).
    private func unfold(_ xp: UnsafePointer<Float>, start: Int, b: Int, h: Int, w: Int, hw: Int,
                        col: UnsafeMutablePointer<Float>) {
        for j in 0..<b {
            Im2Col.im2col(xp + (start + j) * inChannels * h * w, channels: inChannels, height: h, width: w,
                          kernel: kernel, stride: stride, padding: padding, col: col + j * hw, ldCol: b * hw)
        }
    }

    /// y = conv(x). With `inference` the input is not kept for a backward (and an earlier training
    /// forward's cache is left as it was).
    public func forward(_ x: Tensor, inference: Bool = false) -> Tensor {
        let g = geometry(x)
        if !inference { input = x }
        if usesWinograd(height: g.h, width: g.w) { return winogradForward(x, n: g.n, h: g.h, w: g.w) }
        let hw = g.ho * g.wo, kk = inChannels * kernel * kernel, cout = outChannels
        var y = Tensor(zeros: [g.n, cout, g.ho, g.wo])
        let pointwise = isPointwise
        let biasValues = bias?.value.data
        let ws = Workspace.current
        x.withUnsafeBufferPointer { xb in
        weight.value.withUnsafeBufferPointer { wb in
        y.withUnsafeMutableBufferPointer { yb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!, wp = wb.baseAddress!
            Shards.run(batch: g.n, work: g.n * cout * hw * kk) { shard, images in
                if pointwise {
                    // A 1×1 conv: every image already is its [Cin, H·W] column matrix.
                    for i in images {
                        let out = yp + i * cout * hw
                        BLAS.gemm(m: cout, n: hw, k: kk, a: wp, b: xp + i * inChannels * hw, c: out)
                        if let biasValues {
                            for co in 0..<cout {
                                let bv = biasValues[co], row = out + co &* hw
                                fg_add_scalar(row, row, hw, bv)
                            }
                        }
                    }
                    return
                }
                let col = ws.buffer(.columns, shard: shard, count: kk * g.chunk * hw)
                let staging = g.chunk > 1 ? ws.buffer(.staging, shard: shard, count: cout * g.chunk * hw) : col
                var start = images.lowerBound
                while start < images.upperBound {
                    let b = Swift.min(g.chunk, images.upperBound - start), cols = b * hw
                    unfold(xp, start: start, b: b, h: g.h, w: g.w, hw: hw, col: col)
                    let dst = b == 1 ? yp + start * cout * hw : staging
                    BLAS.gemm(m: cout, n: cols, k: kk, a: wp, b: col, c: dst)
                    // Scatter [Cout, b·hw] back to NCHW and add the bias in the same pass (in place when b = 1).
                    for co in 0..<cout {
                        let bv = biasValues?[co] ?? 0
                        for j in 0..<b {
                            let src = dst + (co &* cols &+ j &* hw)
                            let out = yp + ((start &+ j) &* cout &+ co) &* hw
                            fg_add_scalar(src, out, hw, bv)
                        }
                    }
                    start += b
                }
            }
        }}}
        return y
    }

    /// ∂L/∂x for the cached input; accumulates ∂L/∂weight and ∂L/∂bias. Each batch shard sums its images'
    /// weight/bias gradients on its own; the shard sums are then added to `grad` in shard order.
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let g = geometry(x)
        let hw = g.ho * g.wo, kk = inChannels * kernel * kernel, cout = outChannels
        precondition(dy.shape == [g.n, cout, g.ho, g.wo], "Conv2d.backward: dy \(dy.shape)")
        if usesWinograd(height: g.h, width: g.w) { return winogradBackward(x, dy, n: g.n, h: g.h, w: g.w) }
        var dx = needsInputGradient ? Tensor(zeros: x.shape) : Tensor(zeros: [0])
        let pointwise = isPointwise
        let shardCount = Shards.count(batch: g.n)
        var dbias = [Double](repeating: 0, count: shardCount * cout)
        let needDx = needsInputGradient
        let ws = Workspace.current
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        weight.value.withUnsafeBufferPointer { wb in
        dx.withUnsafeMutableBufferPointer { dxb in
        dbias.withUnsafeMutableBufferPointer { dbb in
            let xp = xb.baseAddress!, dyp = dyb.baseAddress!, wp = wb.baseAddress!
            let dxp = dxb.baseAddress, dbp = dbb.baseAddress!
            Shards.run(batch: g.n, work: 2 * g.n * cout * hw * kk) { shard, images in
                let dw = ws.buffer(.weightGrad, shard: shard, count: cout * kk)
                let db = dbp + shard * cout
                var first = true
                if pointwise {
                    for i in images {
                        let dyi = dyp + i * cout * hw, xi = xp + i * inChannels * hw
                        Conv2d.addRowSums(dyi, rows: cout, width: hw, into: db)
                        // dW[Cout, Cin] (+)= dY_i · X_iᵀ
                        BLAS.gemm(transB: true, m: cout, n: kk, k: hw, a: dyi, b: xi, beta: first ? 0 : 1, c: dw)
                        first = false
                        // dx_i[Cin, hw] = Wᵀ · dY_i (dx starts at zero, so write directly).
                        if needDx { BLAS.gemm(transA: true, m: kk, n: hw, k: cout, a: wp, b: dyi, c: dxp! + i * kk * hw) }
                    }
                    return
                }
                let col = ws.buffer(.columns, shard: shard, count: kk * g.chunk * hw)
                let staging = g.chunk > 1 ? ws.buffer(.staging, shard: shard, count: cout * g.chunk * hw) : col
                var start = images.lowerBound
                while start < images.upperBound {
                    let b = Swift.min(g.chunk, images.upperBound - start), cols = b * hw
                    // dY of this chunk as one [Cout, b·hw] matrix.
                    let dyc: UnsafePointer<Float>
                    if b == 1 {
                        dyc = dyp + start * cout * hw
                    } else {
                        for co in 0..<cout {
                            for j in 0..<b {
                                let src = dyp + ((start &+ j) &* cout &+ co) &* hw
                                let out = staging + (co &* cols &+ j &* hw)
                                for i in 0..<hw { out[i] = src[i] }
                            }
                        }
                        dyc = UnsafePointer(staging)
                    }
                    Conv2d.addRowSums(dyc, rows: cout, width: cols, into: db)
                    unfold(xp, start: start, b: b, h: g.h, w: g.w, hw: hw, col: col)
                    // dW[Cout, K] (+)= dY[Cout, cols] · colᵀ
                    BLAS.gemm(transB: true, m: cout, n: kk, k: cols, a: dyc, b: col, beta: first ? 0 : 1, c: dw)
                    first = false
                    if needDx {
                        // dcol = Wᵀ · dY reuses the column buffer (columns are no longer needed).
                        BLAS.gemm(transA: true, m: kk, n: cols, k: cout, a: wp, b: dyc, c: col)
                        for j in 0..<b {
                            Im2Col.col2im(col + j * hw, ldCol: cols, channels: inChannels, height: g.h, width: g.w,
                                          kernel: kernel, stride: stride, padding: padding,
                                          dx: dxp! + (start + j) * inChannels * g.h * g.w)
                        }
                    }
                    start += b
                }
            }
        }}}}}
        addShardGradients(shardCount: shardCount, dbias: dbias, workspace: ws)
        return dx
    }

    /// Adds the shards' partial weight gradients (workspace `.weightGrad` slots) and bias gradients
    /// (`dbias`, shard-major) to the parameter gradients in shard order — the same order whatever ran them.
    private func addShardGradients(shardCount: Int, dbias: [Double], workspace ws: Workspace) {
        let count = weight.value.count, cout = outChannels
        weight.grad.withUnsafeMutableBufferPointer { gb in
            let gp = gb.baseAddress!
            for s in 0..<shardCount {
                let dw = UnsafePointer(ws.buffer(.weightGrad, shard: s, count: count))
                Parallel.chunks(count, minWork: 65_536) { r in
                    for i in r { gp[i] += dw[i] }
                }
            }
        }
        if let bias {
            for co in 0..<cout {
                var sum = 0.0
                for s in 0..<shardCount { sum += dbias[s * cout + co] }
                bias.grad.data[co] += Float(sum)
            }
        }
    }

    /// out[r] += Σ_i rows[r, i] in Double.
    private static func addRowSums(_ p: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Double>) {
        for r in 0..<rows { out[r] += fg_sum(p + r &* width, width) }
    }
}

// MARK: - Winograd F(2×2, 3×3)

/// Winograd F(2×2, 3×3) (Lavin & Gray 2015) for 3×3 / stride-1 / pad-1 convolutions.
///
/// The output is cut into 2×2 tiles (a partial last tile for an odd H or W); tile (ty, tx) reads the 4×4
/// zero-padded input patch at (2ty−1, 2tx−1). With U = G·g·Gᵀ (weights), V = Bᵀ·d·B (input patches) and
/// M = U ⊙ V summed over input channels, y = Aᵀ·M·A: per transform element ξ = 0…15 the channel sum is one
/// GEMM M[ξ] = U[ξ]·V[ξ] (`[Cout, Cin] × [Cin, tiles]`), 16 multiply-adds per 4 outputs instead of 36.
/// Backward is the exact chain rule through those steps — dM = A·dY·Aᵀ, dV[ξ] = U[ξ]ᵀ·dM[ξ],
/// dx = Σ B·dV·Bᵀ over the overlapping patches, dU[ξ] = dM[ξ]·V[ξ]ᵀ, dg = Gᵀ·dU·G — so the gradients are
/// those of the function the forward computes. The transforms are C (`CKernels/winograd.c`).
///
/// Layout per chunk of b images with T = b·⌈H/2⌉·⌈W/2⌉ tiles: U `[16, Cout, Cin]` (once per call, shared by
/// the shards), V `[16, Cin, T]`, M `[16, Cout, T]`. Backward recomputes V from the cached input rather than
/// keeping it from the forward: V is 4 floats per input value, and every layer would hold its own until its
/// backward (peak memory matters more than the transform's time).
/// Results differ from im2col's in the last bits (other rounding: a few ulp of the largest terms); they are
/// the same for any thread count, like im2col's (batch shards, shard-ordered weight-gradient sums).
extension Conv2d {
    /// Target tiles (GEMM width) per chunk: 1024 tiles = 4096 output pixels, the width of an im2col chunk.
    static let winogradTargetTiles = 1024
    /// Largest V or M buffer of one chunk (floats, 16 MB): bounds the workspace for wide layers.
    static let winogradMaxFloats = 1 << 22

    /// Whether a forward/backward on H×W images takes the Winograd path. No minimum size: measured per
    /// layer (thread CPU time, forward + backward, Cin = Cout, ResNet/UNet shapes) Winograd took 0.50–0.68×
    /// the im2col time from 64×64 down to 4×4 and 0.83× at 2×2 (one tile per image, ResNet-18's last stage
    /// at 64×64 input), so it is used at every size (docs/performance.md, "Winograd").
    func usesWinograd(height: Int, width: Int) -> Bool {
        kernel == 3 && stride == 1 && padding == 1 && (winograd ?? Conv2d.winogradEnabled)
    }

    /// Images per chunk for `tilesPerImage` tiles: about `winogradTargetTiles` tiles, at least one image.
    private func winogradChunk(images n: Int, tilesPerImage tpi: Int) -> Int {
        let widest = Swift.max(inChannels, outChannels)
        let tiles = Swift.min(Conv2d.winogradTargetTiles, Conv2d.winogradMaxFloats / (16 * widest))
        return Swift.max(1, Swift.min(n, tiles / tpi))
    }

    /// U = G·g·Gᵀ of the current weights into the workspace (slot of shard 0, read by every shard).
    private func transformedWeights(_ ws: Workspace) -> UnsafePointer<Float> {
        let u = ws.buffer(.transformedWeights, shard: 0, count: 16 * outChannels * inChannels)
        weight.value.withUnsafeBufferPointer { fg_winograd_weight($0.baseAddress!, u, outChannels, inChannels) }
        return UnsafePointer(u)
    }

    fileprivate func winogradForward(_ x: Tensor, n: Int, h: Int, w: Int) -> Tensor {
        let cin = inChannels, cout = outChannels, hw = h * w
        let tpi = ((h + 1) / 2) * ((w + 1) / 2)
        let chunk = winogradChunk(images: n, tilesPerImage: tpi)
        var y = Tensor(zeros: [n, cout, h, w])
        let ws = Workspace.current
        let u = transformedWeights(ws)
        let biasValues = bias?.value.data ?? []
        let hasBias = bias != nil
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
        biasValues.withUnsafeBufferPointer { bb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!, bp = hasBias ? bb.baseAddress : nil
            Shards.run(batch: n, work: n * cout * hw * cin * 4) { shard, images in
                let v = ws.buffer(.columns, shard: shard, count: 16 * cin * chunk * tpi)
                let m = ws.buffer(.staging, shard: shard, count: 16 * cout * chunk * tpi)
                var start = images.lowerBound
                while start < images.upperBound {
                    let b = Swift.min(chunk, images.upperBound - start), t = b * tpi
                    for j in 0..<b {
                        fg_winograd_input(xp + (start + j) * cin * hw, cin, h, w, v + j * tpi, t, cin * t)
                    }
                    for xi in 0..<16 {
                        BLAS.gemm(m: cout, n: t, k: cin, a: u + xi * cout * cin, b: v + xi * cin * t, c: m + xi * cout * t)
                    }
                    for j in 0..<b {
                        fg_winograd_output(m + j * tpi, t, cout * t, yp + (start + j) * cout * hw, cout, h, w, bp)
                    }
                    start += b
                }
            }
        }}}
        return y
    }

    fileprivate func winogradBackward(_ x: Tensor, _ dy: Tensor, n: Int, h: Int, w: Int) -> Tensor {
        let cin = inChannels, cout = outChannels, hw = h * w
        let tpi = ((h + 1) / 2) * ((w + 1) / 2)
        let chunk = winogradChunk(images: n, tilesPerImage: tpi)
        let needDx = needsInputGradient
        var dx = needDx ? Tensor(zeros: x.shape) : Tensor(zeros: [0])
        let shardCount = Shards.count(batch: n)
        var dbias = [Double](repeating: 0, count: shardCount * cout)
        let ws = Workspace.current
        let u = needDx ? transformedWeights(ws) : nil
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        dx.withUnsafeMutableBufferPointer { dxb in
        dbias.withUnsafeMutableBufferPointer { dbb in
            let xp = xb.baseAddress!, dyp = dyb.baseAddress!, dxp = dxb.baseAddress, dbp = dbb.baseAddress!
            Shards.run(batch: n, work: 2 * n * cout * hw * cin * 4) { shard, images in
                let du = ws.buffer(.transformedWeightGrad, shard: shard, count: 16 * cout * cin)
                let v = ws.buffer(.columns, shard: shard, count: 16 * cin * chunk * tpi)
                let dm = ws.buffer(.staging, shard: shard, count: 16 * cout * chunk * tpi)
                let db = dbp + shard * cout
                var first = true
                var start = images.lowerBound
                while start < images.upperBound {
                    let b = Swift.min(chunk, images.upperBound - start), t = b * tpi
                    for j in 0..<b {
                        let dyj = dyp + (start + j) * cout * hw
                        Conv2d.addRowSums(dyj, rows: cout, width: hw, into: db)
                        fg_winograd_output_backward(dyj, cout, h, w, dm + j * tpi, t, cout * t)
                        fg_winograd_input(xp + (start + j) * cin * hw, cin, h, w, v + j * tpi, t, cin * t)
                    }
                    // dU[ξ] (+)= dM[ξ] · V[ξ]ᵀ
                    for xi in 0..<16 {
                        BLAS.gemm(transB: true, m: cout, n: cin, k: t, a: dm + xi * cout * t, b: v + xi * cin * t,
                                  beta: first ? 0 : 1, c: du + xi * cout * cin)
                    }
                    first = false
                    if let u {
                        // dV[ξ] = U[ξ]ᵀ · dM[ξ] into V's buffer (V is no longer needed).
                        for xi in 0..<16 {
                            BLAS.gemm(transA: true, m: cin, n: t, k: cout, a: u + xi * cout * cin,
                                      b: dm + xi * cout * t, c: v + xi * cin * t)
                        }
                        for j in 0..<b {
                            fg_winograd_input_backward(v + j * tpi, t, cin * t, dxp! + (start + j) * cin * hw, cin, h, w)
                        }
                    }
                    start += b
                }
                fg_winograd_weight_backward(du, ws.buffer(.weightGrad, shard: shard, count: cout * cin * 9), cout, cin)
            }
        }}}}
        addShardGradients(shardCount: shardCount, dbias: dbias, workspace: ws)
        return dx
    }
}
