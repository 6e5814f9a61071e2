import Tensors

/// A compact, read-only set of same-sized images stored as 8-bit planes (`[N, C, H, W]` of UInt8), so that
/// a real dataset at training resolution costs 1 byte per value instead of 4; batches are expanded to Float
/// on the fly, scaled to [−1, 1] (the range both the DDPM and the classifier train in).
public struct ImageBank: Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public private(set) var pixels: [UInt8]

    public var count: Int { pixels.count / Swift.max(1, channels * height * width) }
    public var imageSize: Int { channels * height * width }

    public init(channels: Int, height: Int, width: Int, pixels: [UInt8] = []) {
        precondition(pixels.count % (channels * height * width) == 0, "ImageBank: ragged pixel buffer")
        self.channels = channels; self.height = height; self.width = width
        self.pixels = pixels
    }

    /// Appends one image given as Float `[C, H, W]` in [0, 1] (rounded to the nearest 8-bit level).
    public mutating func append(_ image: Tensor) {
        precondition(image.shape == [channels, height, width], "ImageBank: \(image.shape) vs \([channels, height, width])")
        pixels.reserveCapacity(pixels.count + imageSize)
        for v in image.data { pixels.append(UInt8(Swift.max(0, Swift.min(255, (v * 255).rounded())))) }
    }

    /// The images at `indices`, in order (bytes copied, no re-quantisation).
    public func subset(_ indices: [Int]) -> ImageBank {
        var out = [UInt8]()
        out.reserveCapacity(indices.count * imageSize)
        for i in indices { out += pixels[(i * imageSize)..<((i + 1) * imageSize)] }
        return ImageBank(channels: channels, height: height, width: width, pixels: out)
    }

    /// Image `i` as Float `[C, H, W]` in [0, 1].
    public func image(_ i: Int) -> Tensor {
        let base = i * imageSize
        var t = Tensor(zeros: [channels, height, width])
        for k in 0..<imageSize { t.data[k] = Float(pixels[base + k]) * (1.0 / 255) }
        return t
    }

    /// The images at `indices` as one `[B, C, H, W]` batch in [−1, 1]; `transform` (e.g. augmentation) sees
    /// each image in [0, 1] with its position in the batch.
    public func batch(_ indices: [Int], transform: ((Tensor, Int) -> Tensor)? = nil) -> Tensor {
        var out = Tensor(zeros: [indices.count, channels, height, width])
        for (b, i) in indices.enumerated() {
            var img = image(i)
            if let transform { img = transform(img, b) }
            let base = b * imageSize
            for k in 0..<imageSize { out.data[base + k] = img.data[k] * 2 - 1 }
        }
        return out
    }
}
