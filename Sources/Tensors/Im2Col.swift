/// Unfolding of image patches into GEMM columns (im2col) and its adjoint (col2im), one image at a time.
///
/// Layout: an image is `[C, H, W]` contiguous; its column matrix has `C·k·k` rows, ordered (c, ki, kj) —
/// the same order as a PyTorch conv weight `[Cout, C, k, k]` flattened — and `Ho·Wo` columns. Rows are
/// `ldCol` floats apart so several images can sit side by side in one wide matrix (one big GEMM).
public enum Im2Col {
    /// Output extent of a convolution along one axis.
    @inlinable public static func outputSize(_ size: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (size + 2 * padding - kernel) / stride + 1
    }

    /// Writes the `C·k·k × Ho·Wo` patch matrix of image `x` into `col` (row pitch `ldCol`).
    /// Out-of-image taps (padding) are zero. Parallel over input channels.
    public static func im2col(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                              kernel k: Int, stride s: Int, padding p: Int,
                              col: UnsafeMutablePointer<Float>, ldCol: Int) {
        let ho = outputSize(height, kernel: k, stride: s, padding: p)
        let wo = outputSize(width, kernel: k, stride: s, padding: p)
        let plane = height * width
        Parallel.forEach(channels, work: channels * k * k * ho * wo, minWork: 65_536) { c in
            let xc = x + c &* plane
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = col + ((c &* k &+ ki) &* k &+ kj) &* ldCol
                    // Valid output columns for this tap: 0 ≤ ow·s − p + kj < width.
                    let owLo = kj >= p ? 0 : (p - kj + s - 1) / s
                    let last = width - 1 + p - kj
                    let owHi = last < 0 ? 0 : Swift.min(wo, last / s + 1)   // exclusive
                    for oh in 0..<ho {
                        let ih = oh &* s &- p &+ ki
                        let out = row + oh &* wo
                        if ih < 0 || ih >= height || owLo >= owHi {
                            for ow in 0..<wo { out[ow] = 0 }
                            continue
                        }
                        for ow in 0..<owLo { out[ow] = 0 }
                        let xr = xc + (ih &* width &- p &+ kj)
                        if s == 1 {
                            for ow in owLo..<owHi { out[ow] = xr[ow] }
                        } else {
                            for ow in owLo..<owHi { out[ow] = xr[ow &* s] }
                        }
                        for ow in owHi..<wo { out[ow] = 0 }
                    }
                }
            }
        }
    }

    /// Adjoint of `im2col`: adds each column entry back onto the image pixel it was read from
    /// (`dx += col2im(col)`). Parallel over channels, so every work item writes only its own plane.
    public static func col2im(_ col: UnsafePointer<Float>, ldCol: Int, channels: Int, height: Int, width: Int,
                              kernel k: Int, stride s: Int, padding p: Int, dx: UnsafeMutablePointer<Float>) {
        let ho = outputSize(height, kernel: k, stride: s, padding: p)
        let wo = outputSize(width, kernel: k, stride: s, padding: p)
        let plane = height * width
        Parallel.forEach(channels, work: channels * k * k * ho * wo, minWork: 65_536) { c in
            let dxc = dx + c &* plane
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = col + ((c &* k &+ ki) &* k &+ kj) &* ldCol
                    let owLo = kj >= p ? 0 : (p - kj + s - 1) / s
                    let last = width - 1 + p - kj
                    let owHi = last < 0 ? 0 : Swift.min(wo, last / s + 1)
                    if owLo >= owHi { continue }
                    for oh in 0..<ho {
                        let ih = oh &* s &- p &+ ki
                        if ih < 0 || ih >= height { continue }
                        let src = row + oh &* wo
                        let xr = dxc + (ih &* width &- p &+ kj)
                        if s == 1 {
                            for ow in owLo..<owHi { xr[ow] += src[ow] }
                        } else {
                            for ow in owLo..<owHi { xr[ow &* s] += src[ow] }
                        }
                    }
                }
            }
        }
    }
}
