import NN
import Tensors

/// Shape of a ResNet classifier. `widths` are the channel counts of the four stages (PyTorch's ResNet-18/34/50:
/// 64/128/256/512; a bottleneck stage outputs 4× its width); smaller widths give fast models for tests and CPU
/// profiles. `blocks` are the blocks per stage: BasicBlocks [2, 2, 2, 2] is ResNet-18, [3, 4, 6, 3] ResNet-34;
/// bottleneck blocks [3, 4, 6, 3] ResNet-50.
public struct ResNetConfig: Sendable, Equatable, Codable {
    public var inChannels: Int
    public var numOutputs: Int
    /// Input height = width in pixels; above 64 the ImageNet stem (conv7×7 s2 + max-pool) is used.
    public var resolution: Int
    public var widths: [Int]
    public var blocks: [Int]
    /// Bottleneck blocks (1×1 → 3×3 → 1×1, expansion 4; ResNet-50) instead of BasicBlocks.
    public var bottleneck: Bool

    /// BasicBlocks per stage of ResNet-18.
    public static let resnet18Blocks = [2, 2, 2, 2]
    /// BasicBlocks per stage of ResNet-34 (He et al. 2016, Table 1).
    public static let resnet34Blocks = [3, 4, 6, 3]

    public init(inChannels: Int = 3, numOutputs: Int, resolution: Int, widths: [Int] = [64, 128, 256, 512],
                blocks: [Int] = ResNetConfig.resnet18Blocks, bottleneck: Bool = false) {
        precondition(inChannels > 0 && numOutputs > 0 && resolution > 0, "ResNetConfig: sizes must be positive")
        precondition(widths.count == 4 && widths.allSatisfy { $0 > 0 }, "ResNetConfig: widths must be 4 positive values")
        precondition(blocks.count == 4 && blocks.allSatisfy { $0 > 0 }, "ResNetConfig: blocks must be 4 positive counts")
        self.inChannels = inChannels; self.numOutputs = numOutputs
        self.resolution = resolution; self.widths = widths; self.blocks = blocks; self.bottleneck = bottleneck
    }

    /// Output channels per input-width channel of a block (4 for bottlenecks, torchvision's `expansion`).
    public var expansion: Int { bottleneck ? 4 : 1 }

    /// ImageNet stem (conv7×7 s2 p3 → BN → ReLU → max-pool 3/2/1) above 64 px; CIFAR stem (conv3×3 s1 p1) otherwise.
    public var imagenetStem: Bool { resolution > 64 }
    /// Length of `ResNet.features` (the last stage's output channels).
    public var featureCount: Int { widths[3] * expansion }
}

/// ResNet BasicBlock: out = relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x)))))), conv3×3 without bias,
/// shortcut = conv1×1(stride) → BN when the stride or width changes, identity otherwise.
/// Names follow `Basic` in torch_reference.py: `<prefix>.c1`, `.b1`, `.c2`, `.b2`, `.sc.0`, `.sc.1`.
/// Caches: each layer its own inputs; the block its output (the ReLU mask of the residual join).
///
/// Bottleneck form (`init(name:inChannels:width:…)`, torchvision's ResNet-50 v1.5 `Bottleneck`):
/// out = relu(shortcut(x) + bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))))) with conv1 1×1 (in → width),
/// conv2 3×3 carrying the stride (width → width), conv3 1×1 (width → 4·width); names add `.c3`, `.b3`.
public final class ResNetBlock {
    public let c1: Conv2d, b1: BatchNorm2d, c2: Conv2d, b2: BatchNorm2d
    /// The expanding 1×1 convolution and its norm (bottleneck blocks only).
    public let c3: Conv2d?, b3: BatchNorm2d?
    public let shortcutConv: Conv2d?, shortcutBN: BatchNorm2d?
    private var output = Tensor(zeros: [0])

    /// A bottleneck block: `inChannels` → `width` (1×1) → `width` (3×3, `stride`) → 4·`width` (1×1).
    public init(name: String, inChannels: Int, width: Int, stride: Int, rng: inout RNG) {
        let out = width * 4
        c1 = Conv2d(name: name + ".c1", inChannels: inChannels, outChannels: width, kernel: 1,
                    stride: 1, padding: 0, bias: false, rng: &rng)
        b1 = BatchNorm2d(name: name + ".b1", channels: width, fusedReLU: true)
        c2 = Conv2d(name: name + ".c2", inChannels: width, outChannels: width, kernel: 3,
                    stride: stride, padding: 1, bias: false, rng: &rng)
        b2 = BatchNorm2d(name: name + ".b2", channels: width, fusedReLU: true)
        c3 = Conv2d(name: name + ".c3", inChannels: width, outChannels: out, kernel: 1,
                    stride: 1, padding: 0, bias: false, rng: &rng)
        b3 = BatchNorm2d(name: name + ".b3", channels: out)
        if stride != 1 || inChannels != out {
            shortcutConv = Conv2d(name: name + ".sc.0", inChannels: inChannels, outChannels: out, kernel: 1,
                                  stride: stride, padding: 0, bias: false, rng: &rng)
            shortcutBN = BatchNorm2d(name: name + ".sc.1", channels: out)
        } else {
            shortcutConv = nil; shortcutBN = nil
        }
    }

    public init(name: String, inChannels: Int, outChannels: Int, stride: Int, rng: inout RNG) {
        c1 = Conv2d(name: name + ".c1", inChannels: inChannels, outChannels: outChannels, kernel: 3,
                    stride: stride, padding: 1, bias: false, rng: &rng)
        b1 = BatchNorm2d(name: name + ".b1", channels: outChannels, fusedReLU: true)
        c2 = Conv2d(name: name + ".c2", inChannels: outChannels, outChannels: outChannels, kernel: 3,
                    stride: 1, padding: 1, bias: false, rng: &rng)
        b2 = BatchNorm2d(name: name + ".b2", channels: outChannels)
        c3 = nil; b3 = nil
        if stride != 1 || inChannels != outChannels {
            shortcutConv = Conv2d(name: name + ".sc.0", inChannels: inChannels, outChannels: outChannels, kernel: 1,
                                  stride: stride, padding: 0, bias: false, rng: &rng)
            shortcutBN = BatchNorm2d(name: name + ".sc.1", channels: outChannels)
        } else {
            shortcutConv = nil; shortcutBN = nil
        }
    }

    /// Batch norms in state_dict order.
    var norms: [BatchNorm2d] { [b1, b2] + (b3.map { [$0] } ?? []) + (shortcutBN.map { [$0] } ?? []) }

    /// (parameters, buffers) per module in PyTorch `state_dict` order.
    var stateEntries: [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = [(c1.weight.name, c1.weight.value)]
        out += b1.parameters.map { ($0.name, $0.value) } + b1.buffers
        out.append((c2.weight.name, c2.weight.value))
        out += b2.parameters.map { ($0.name, $0.value) } + b2.buffers
        if let c3, let b3 {
            out.append((c3.weight.name, c3.weight.value))
            out += b3.parameters.map { ($0.name, $0.value) } + b3.buffers
        }
        if let sc = shortcutConv, let bn = shortcutBN {
            out.append((sc.weight.name, sc.weight.value))
            out += bn.parameters.map { ($0.name, $0.value) } + bn.buffers
        }
        return out
    }

    /// Parameters in PyTorch `named_parameters()` order.
    public var parameters: [Parameter] {
        c1.parameters + b1.parameters + c2.parameters + b2.parameters
            + (c3?.parameters ?? []) + (b3?.parameters ?? [])
            + (shortcutConv?.parameters ?? []) + (shortcutBN?.parameters ?? [])
    }

    /// Block output `[N, Cout, H/stride, W/stride]`.
    public func forward(_ x: Tensor) -> Tensor {
        let h = b1.forward(c1.forward(x))
        var z = b2.forward(c2.forward(h))
        if let c3, let b3 { z = b3.forward(c3.forward(z)) }
        if let sc = shortcutConv, let bn = shortcutBN {
            addReLU(into: &z, bn.forward(sc.forward(x)))
        } else {
            addReLU(into: &z, x)
        }
        output = z
        return z
    }

    /// ∂L/∂x through both branches; accumulates every parameter gradient of the block.
    public func backward(_ dy: Tensor) -> Tensor {
        let d = reluBackward(output: output, dy: dy)
        let dz = if let c3, let b3 { c3.backward(b3.backward(d)) } else { d }
        var dx = c1.backward(b1.backward(c2.backward(b2.backward(dz))))
        let dskip = if let sc = shortcutConv, let bn = shortcutBN { sc.backward(bn.backward(d)) } else { d }
        if !dx.data.isEmpty { dx.accumulate(dskip) }
        return dx
    }
}

/// ResNet-18/34/50 classifier as `ResNet18` in shared/bench/torch_reference.py: stem → 4 stages × `blocks` BasicBlocks (or bottlenecks)
/// (stride 2 at the first block of stages 2–4) → global average pool → Linear(width₄, outputs).
/// Parameter and buffer names equal the reference's `state_dict` keys (stem.0.weight, stem.1.running_mean,
/// layers.3.sc.0.weight, fc.bias, …), so checkpoints interoperate with PyTorch.
/// Shapes: x `[N, inChannels, R, R]` → logits `[N, numOutputs]`; `features(x)` → `[N, featureCount]`.
public final class ResNet {
    public let config: ResNetConfig
    public let stemConv: Conv2d
    public let stemBN: BatchNorm2d
    public let stemPool: MaxPool2d?
    public let blocks: [ResNetBlock]
    public let fc: Linear
    private let pool = GlobalAvgPool()

    public init(_ config: ResNetConfig, rng: inout RNG) {
        self.config = config
        let w = config.widths
        if config.imagenetStem {
            stemConv = Conv2d(name: "stem.0", inChannels: config.inChannels, outChannels: w[0], kernel: 7, stride: 2,
                              padding: 3, bias: false, rng: &rng)
            stemPool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        } else {
            stemConv = Conv2d(name: "stem.0", inChannels: config.inChannels, outChannels: w[0], kernel: 3, stride: 1,
                              padding: 1, bias: false, rng: &rng)
            stemPool = nil
        }
        // The input image needs no gradient in training; skipping it saves the stem's col2im.
        stemConv.needsInputGradient = false
        stemBN = BatchNorm2d(name: "stem.1", channels: w[0], fusedReLU: true)
        var blocks: [ResNetBlock] = []
        var ci = w[0]
        for (stage, width) in w.enumerated() {
            for j in 0..<config.blocks[stage] {
                let stride = j == 0 && stage > 0 ? 2 : 1
                let name = "layers.\(blocks.count)"
                blocks.append(config.bottleneck
                    ? ResNetBlock(name: name, inChannels: ci, width: width, stride: stride, rng: &rng)
                    : ResNetBlock(name: name, inChannels: ci, outChannels: width, stride: stride, rng: &rng))
                ci = width * config.expansion
            }
        }
        self.blocks = blocks
        fc = Linear(name: "fc", inFeatures: config.featureCount, outFeatures: config.numOutputs, bias: true, rng: &rng)
    }

    /// Whether `backward` computes ∂L/∂input (off by default: training never needs it).
    public var needsInputGradient: Bool {
        get { stemConv.needsInputGradient }
        set { stemConv.needsInputGradient = newValue }
    }

    /// Every batch norm, in state_dict order.
    public var norms: [BatchNorm2d] { [stemBN] + blocks.flatMap(\.norms) }

    /// Train mode (batch statistics, running-stat updates) or eval mode (running statistics).
    public var training: Bool {
        get { stemBN.training }
        set { for bn in norms { bn.training = newValue } }
    }

    /// Trainable parameters in PyTorch `named_parameters()` order.
    public var parameters: [Parameter] {
        stemConv.parameters + stemBN.parameters + blocks.flatMap(\.parameters) + fc.parameters
    }

    /// Total number of trainable scalars (PyTorch's `sum(p.numel() for p in model.parameters())`).
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// BatchNorm buffers (running_mean, running_var, num_batches_tracked) under their state_dict names.
    public var buffers: [(name: String, tensor: Tensor)] { norms.flatMap(\.buffers) }

    /// Parameters and buffers interleaved exactly in PyTorch `state_dict()` order (a checkpoint's contents).
    public var stateDict: [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = [(stemConv.weight.name, stemConv.weight.value)]
        out += stemBN.parameters.map { ($0.name, $0.value) } + stemBN.buffers
        for b in blocks { out += b.stateEntries }
        out += fc.parameters.map { ($0.name, $0.value) }
        return out
    }

    /// Loads every parameter and buffer from `tensors` (keys as `stateDict`, extra keys ignored); `source`
    /// names the checkpoint in errors. Nothing is changed unless every tensor is present with the right size.
    public func loadStateDict(_ tensors: [String: Tensor], source: String) throws {
        let params = parameters
        for p in params {
            guard let t = tensors[p.name] else {
                throw LayerStateError(source: source, tensor: p.name, problem: "missing")
            }
            guard t.count == p.value.count else {
                throw LayerStateError(source: source, tensor: p.name, problem: "has shape \(t.shape), expected \(p.shape)")
            }
        }
        for (name, t) in buffers {
            guard let v = tensors[name] else { throw LayerStateError(source: source, tensor: name, problem: "missing") }
            guard v.count == t.count else {
                throw LayerStateError(source: source, tensor: name, problem: "has shape \(v.shape), expected \(t.shape)")
            }
        }
        for p in params { p.value = tensors[p.name]!.reshaped(p.shape) }
        for bn in norms { try bn.restoreBuffers(from: tensors, source: source) }
    }

    /// Penultimate features `[N, featureCount]` (after global average pooling), e.g. for MMD.
    public func features(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == config.inChannels,
                     "ResNet: input \(x.shape), expected [N, \(config.inChannels), H, W]")
        var h = stemBN.forward(stemConv.forward(x))
        if let stemPool { h = stemPool.forward(h) }
        for b in blocks { h = b.forward(h) }
        return pool.forward(h)
    }

    /// Logits `[N, numOutputs]`.
    public func forward(_ x: Tensor) -> Tensor {
        fc.forward(features(x))
    }

    /// Backward from ∂L/∂logits; accumulates every parameter gradient. Returns ∂L/∂x when
    /// `needsInputGradient`, otherwise an empty tensor.
    public func backward(_ dlogits: Tensor) -> Tensor {
        backward(features: fc.backward(dlogits))
    }

    /// Backward from ∂L/∂features (after a `features` call), e.g. for a loss on the embedding.
    public func backward(features dfeatures: Tensor) -> Tensor {
        var d = pool.backward(dfeatures)
        for b in blocks.reversed() { d = b.backward(d) }
        if let stemPool { d = stemPool.backward(d) }
        return stemConv.backward(stemBN.backward(d))
    }
}

extension Tensor {
    /// self += other element-wise (same element count).
    mutating func accumulate(_ other: Tensor) {
        precondition(count == other.count, "accumulate: \(shape) vs \(other.shape)")
        other.withUnsafeBufferPointer { ob in
        withUnsafeMutableBufferPointer { sb in
            let op = ob.baseAddress!, sp = sb.baseAddress!
            Parallel.chunks(sb.count, minWork: 65_536) { r in
                for i in r { sp[i] += op[i] }
            }
        }}
    }
}
