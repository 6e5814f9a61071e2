import CKernels
import Tensors

/// 2-D convolution (cross-correlation, as PyTorch), any kernel / stride / padding, via im2col + GEMM.
///
/// Shapes: x `[N, Cin, H, W]` → y `[N, Cout, Ho, Wo]`, Ho = (H + 2p − k)/s + 1.
/// weight `[Cout, Cin, k, k]` (PyTorch layout), bias `[Cout]`.
/// Images are processed in chunks of `b` images whose columns sit side by side in one
/// `[Cin·k·k, b·Ho·Wo]` matrix, so each chunk is one large GEMM (`[Cout, K] × [K, b·Ho·Wo]`), big enough for
/// OpenBLAS to use both cores well even at 8×8 resolution. A 1×1/stride-1/pad-0 conv on a single image
/// skips im2col (the image already is its column matrix).
/// Forward caches the input `x` (shared storage, no copy); backward recomputes the columns.
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

    private var input = Tensor(zeros: [0])
    private var col: [Float] = []      // im2col workspace, reused across calls
    private var gathered: [Float] = [] // [Cout, b·Ho·Wo] staging for multi-image chunks

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

    private static func ensure(_ buffer: inout [Float], _ count: Int) {
        if buffer.count < count { buffer = [Float](repeating: 0, count: count) }
    }

    /// Fills `col` with the column matrix of images `start..<start+b` (row pitch b·Ho·Wo).
    private func unfold(_ xp: UnsafePointer<Float>, start: Int, b: Int, h: Int, w: Int, hw: Int,
                        col: UnsafeMutablePointer<Float>) {
        for j in 0..<b {
            Im2Col.im2col(xp + (start + j) * inChannels * h * w, channels: inChannels, height: h, width: w,
                          kernel: kernel, stride: stride, padding: padding, col: col + j * hw, ldCol: b * hw)
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        let g = geometry(x)
        input = x
        let hw = g.ho * g.wo, kk = inChannels * kernel * kernel, cout = outChannels
        var y = Tensor(zeros: [g.n, cout, g.ho, g.wo])
        let direct = isPointwise && g.chunk == 1
        if !direct { Conv2d.ensure(&col, kk * g.chunk * hw) }
        if g.chunk > 1 { Conv2d.ensure(&gathered, cout * g.chunk * hw) }
        let biasValues = bias?.value.data
        x.withUnsafeBufferPointer { xb in
        weight.value.withUnsafeBufferPointer { wb in
        y.withUnsafeMutableBufferPointer { yb in
        col.withUnsafeMutableBufferPointer { cb in
        gathered.withUnsafeMutableBufferPointer { gb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            var start = 0
            while start < g.n {
                let b = Swift.min(g.chunk, g.n - start), cols = b * hw
                let colPtr: UnsafePointer<Float>
                if direct {
                    colPtr = xp + start * inChannels * hw
                } else {
                    unfold(xp, start: start, b: b, h: g.h, w: g.w, hw: hw, col: cb.baseAddress!)
                    colPtr = UnsafePointer(cb.baseAddress!)
                }
                let dst = b == 1 ? yp + start * cout * hw : gb.baseAddress!
                BLAS.gemm(m: cout, n: cols, k: kk, a: wb.baseAddress!, b: colPtr, c: dst)
                // Scatter [Cout, b·hw] back to NCHW and add the bias in the same pass.
                Parallel.forEach(cout, work: cout * cols, minWork: 65_536) { co in
                    let bv = biasValues?[co] ?? 0
                    for j in 0..<b {
                        let src = dst + (co &* cols &+ j &* hw)
                        let out = yp + ((start &+ j) &* cout &+ co) &* hw
                        fg_add_scalar(src, out, hw, bv)
                    }
                }
                start += b
            }
        }}}}}
        return y
    }

    /// ∂L/∂x for the cached input; accumulates ∂L/∂weight and ∂L/∂bias.
    public func backward(_ dy: Tensor) -> Tensor {
        let x = input
        let g = geometry(x)
        let hw = g.ho * g.wo, kk = inChannels * kernel * kernel, cout = outChannels
        precondition(dy.shape == [g.n, cout, g.ho, g.wo], "Conv2d.backward: dy \(dy.shape)")
        var dx = needsInputGradient ? Tensor(zeros: x.shape) : Tensor(zeros: [0])
        let direct = isPointwise && g.chunk == 1
        Conv2d.ensure(&col, kk * g.chunk * hw)
        if g.chunk > 1 { Conv2d.ensure(&gathered, cout * g.chunk * hw) }
        var dbias = [Double](repeating: 0, count: cout)
        let needDx = needsInputGradient
        x.withUnsafeBufferPointer { xb in
        dy.withUnsafeBufferPointer { dyb in
        weight.value.withUnsafeBufferPointer { wb in
        weight.grad.withUnsafeMutableBufferPointer { dwb in
        dx.withUnsafeMutableBufferPointer { dxb in
        col.withUnsafeMutableBufferPointer { cb in
        gathered.withUnsafeMutableBufferPointer { gb in
        dbias.withUnsafeMutableBufferPointer { dbb in
            let xp = xb.baseAddress!, dyp = dyb.baseAddress!, cp = cb.baseAddress!
            var start = 0
            while start < g.n {
                let b = Swift.min(g.chunk, g.n - start), cols = b * hw
                // dY of this chunk as one [Cout, b·hw] matrix.
                let dyc: UnsafePointer<Float>
                if b == 1 {
                    dyc = dyp + start * cout * hw
                } else {
                    let gp = gb.baseAddress!
                    Parallel.forEach(cout, work: cout * cols, minWork: 65_536) { co in
                        for j in 0..<b {
                            let src = dyp + ((start &+ j) &* cout &+ co) &* hw
                            let out = gp + (co &* cols &+ j &* hw)
                            for i in 0..<hw { out[i] = src[i] }
                        }
                    }
                    dyc = UnsafePointer(gp)
                }
                let dbp = dbb.baseAddress!
                Parallel.forEach(cout, work: cout * cols, minWork: 65_536) { co in
                    dbp[co] += fg_sum(dyc + co &* cols, cols)
                }
                let colPtr: UnsafePointer<Float>
                if direct {
                    colPtr = xp + start * inChannels * hw
                } else {
                    unfold(xp, start: start, b: b, h: g.h, w: g.w, hw: hw, col: cp)
                    colPtr = UnsafePointer(cp)
                }
                // dW[Cout, K] += dY[Cout, cols] · colᵀ
                BLAS.gemm(transB: true, m: cout, n: kk, k: cols, a: dyc, b: colPtr, beta: 1, c: dwb.baseAddress!)
                if needDx {
                    let dxp = dxb.baseAddress!
                    if direct {
                        // dx[Cin, hw] = Wᵀ · dY (dx starts at zero, so write directly).
                        BLAS.gemm(transA: true, m: kk, n: cols, k: cout, a: wb.baseAddress!, b: dyc,
                                  c: dxp + start * inChannels * hw)
                    } else {
                        // dcol = Wᵀ · dY reuses the column buffer (columns are no longer needed).
                        BLAS.gemm(transA: true, m: kk, n: cols, k: cout, a: wb.baseAddress!, b: dyc, c: cp)
                        for j in 0..<b {
                            Im2Col.col2im(cp + j * hw, ldCol: cols, channels: inChannels, height: g.h, width: g.w,
                                          kernel: kernel, stride: stride, padding: padding,
                                          dx: dxp + (start + j) * inChannels * g.h * g.w)
                        }
                    }
                }
                start += b
            }
        }}}}}}}}
        if let bias {
            for co in 0..<cout { bias.grad.data[co] += Float(dbias[co]) }
        }
        return dx
    }
}
