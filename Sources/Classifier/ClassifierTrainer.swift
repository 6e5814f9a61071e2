import Datasets
import Models
import NN
import Tensors

/// What a classifier network must offer the trainer (ResNet conforms; tests may use smaller nets).
public protocol ClassifierNetwork: AnyObject {
    var parameters: [Parameter] { get }
    /// Train mode (batch statistics) vs eval mode (running statistics).
    var training: Bool { get set }
    /// Logits `[N, classes]`.
    func forward(_ x: Tensor) -> Tensor
    /// Back-propagates ∂L/∂logits (after `forward`), accumulating into parameter gradients.
    func backpropagate(_ dLogits: Tensor)
    /// Penultimate-layer features `[N, F]` (used for MMD and PCA) and the logits, in one pass.
    func featuresAndLogits(_ x: Tensor) -> (features: Tensor, logits: Tensor)
    /// Parameters and buffers (e.g. BatchNorm running statistics) by name, for checkpoints and model selection.
    func stateTensors() -> [(name: String, tensor: Tensor)]
    func loadState(_ tensors: [String: Tensor]) throws
}

/// Settings of one classifier training run (one variant, one seed).
public struct ClassifierSettings: Codable, Sendable, Equatable {
    public enum Loss: String, Codable, Sendable { case crossEntropy = "cross_entropy", focal }
    public var epochs = 30
    public var batch = 64
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var warmupEpochs = 1
    /// `focal` applies to every head kind: softmax focal for single labels, its soft-target form
    /// (−Σₖ yₖ(1−pₖ)^γ log pₖ) for soft labels, sigmoid focal per binary head for multi-label.
    public var loss: Loss = .crossEntropy
    public var focalGamma: Float = 2
    /// Probability α of drawing a real example (1 = real only).
    public var alpha: Double = 1
    /// Resample the real examples so every group value (`LabeledImages.groups`) is equally frequent (the
    /// `oversample` baseline; with α < 1, `synthetic+oversample`: the real share of each batch walks the
    /// balanced order).
    public var oversample = false
    /// Heuristic augmentation applied in order to every training example, real or synthetic (empty: none).
    public var augment: [HeuristicAugment.Policy] = []
    public var seed: UInt64 = 0
    public init() {}
}

/// Per-epoch record.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var meanLoss: Double
    public var valScore: Double
}

/// The outcome of training: the network holds the weights of the best epoch on validation.
public struct TrainedClassifier {
    public let network: ClassifierNetwork
    public let history: [EpochRecord]
    public let bestEpoch: Int
    public let bestValScore: Double
}

/// Progress of a long training run, for logs and the daemon.
public struct ClassifierProgress: Sendable {
    public var step: Int
    public var totalSteps: Int
    public var epoch: Int
    public var loss: Double
}

/// Trains a classifier from a source that mixes real and synthetic examples (Ktena et al. Eq. 2–3), with the
/// baselines as switches: `alpha = 1` (real only), `oversample`, `augment`, `loss = .focal`.
/// Every variant gets the same budget: `epochs × ⌈real count / batch⌉` steps. Model selection keeps the epoch
/// with the best validation score (balanced accuracy; macro AUC for multi-label).
public enum ClassifierTrainer {
    /// Thrown by `train(…shouldStop:)` when it stopped early; nothing of the partial run is kept.
    public struct Stopped: Error, Sendable {}

    public static func train(network: ClassifierNetwork, config: ClassifierSettings,
                             real: LabeledImages, synthetic: LabeledImages? = nil,
                             validation: LabeledImages,
                             progress: ((ClassifierProgress) -> Void)? = nil) -> TrainedClassifier {
        // Without a stop check nothing can throw.
        try! train(network: network, config: config, real: real, synthetic: synthetic, validation: validation,
                   shouldStop: { false }, progress: progress)
    }

    /// As above, polling `shouldStop` before every step (a daemon being stopped); throws `Stopped` then.
    public static func train(network: ClassifierNetwork, config: ClassifierSettings,
                             real: LabeledImages, synthetic: LabeledImages? = nil,
                             validation: LabeledImages, shouldStop: () -> Bool,
                             progress: ((ClassifierProgress) -> Void)? = nil) throws -> TrainedClassifier {
        let real = real.labeledOnly()
        let synthetic = synthetic?.labeledOnly()
        precondition(real.count > 0 || config.alpha == 0, "classifier: no labeled real examples")
        let stepsPerEpoch = max(1, (real.count + config.batch - 1) / config.batch)
        let totalSteps = stepsPerEpoch * config.epochs
        let optimizer = SGD(parameters: network.parameters, learningRate: config.learningRate,
                            momentum: config.momentum, weightDecay: config.weightDecay, nesterov: false)
        let schedule = LRSchedule.warmupCosine(peak: config.learningRate, warmupSteps: config.warmupEpochs * stepsPerEpoch,
                                               totalSteps: totalSteps, floor: 0)
        let source = mixedSource(config, real: real, synthetic: synthetic)
        let augment = config.augment.isEmpty ? nil : HeuristicAugment(policies: config.augment)
        let root = RNG(seed: config.seed)

        var history: [EpochRecord] = []
        var best: (score: Double, epoch: Int, state: [(name: String, tensor: Tensor)])? = nil
        var step = 0
        for epoch in 0..<config.epochs {
            var plan = EpochPlan(config: config, real: real, source: source, epoch: epoch, stepsPerEpoch: stepsPerEpoch)
            var lossSum = 0.0
            network.training = true
            for _ in 0..<stepsPerEpoch {
                if shouldStop() { throw Stopped() }
                let picks = plan.next(step: step)
                let stepRNG = root.split(UInt64(step))
                let (x, targets) = assemble(picks, real: real, synthetic: synthetic, augment: augment, rng: stepRNG)
                optimizer.learningRate = schedule.lr(at: step)
                optimizer.zeroGrad()
                let logits = network.forward(x)
                let (loss, grad) = lossAndGradient(logits, targets, config)
                network.backpropagate(grad)
                optimizer.step()
                lossSum += Double(loss)
                step += 1
                progress?(ClassifierProgress(step: step, totalSteps: totalSteps, epoch: epoch, loss: Double(loss)))
            }
            let score = validationScore(network, validation)
            history.append(EpochRecord(epoch: epoch, meanLoss: lossSum / Double(stepsPerEpoch), valScore: score))
            if best == nil || score > best!.score {
                best = (score, epoch, network.stateTensors())
            }
        }
        if let best {
            try? network.loadState(Dictionary(best.state.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }))
        }
        network.training = false
        return TrainedClassifier(network: network, history: history, bestEpoch: best?.epoch ?? -1,
                                 bestValScore: best?.score ?? .nan)
    }

    /// The α mix the trainer draws from (`real` and `synthetic` already reduced to labeled examples);
    /// α is 1 when there is no synthetic example.
    static func mixedSource(_ config: ClassifierSettings, real: LabeledImages, synthetic: LabeledImages?) -> Sampling.MixedSource {
        let alpha = (synthetic?.count ?? 0) > 0 ? config.alpha : 1
        return Sampling.MixedSource(realCount: real.count, syntheticCount: synthetic?.count ?? 0,
                                    alpha: alpha, seed: config.seed &+ 0x5EED)
    }

    /// Builds one batch from the picks; example `b` is augmented with `rng.split(b)`.
    static func assemble(_ picks: [Sampling.Pick], real: LabeledImages, synthetic: LabeledImages?,
                         augment: HeuristicAugment?, rng: RNG) -> (Tensor, Targets) {
        let first = real.count > 0 ? real : synthetic!
        var x = Tensor(zeros: [picks.count, first.images.channels, first.images.height, first.images.width])
        let size = first.images.imageSize
        var rows: [(LabeledImages, Int)] = []
        for (b, pick) in picks.enumerated() {
            let (set, i): (LabeledImages, Int)
            switch pick {
            case .real(let k): (set, i) = (real, k)
            case .synthetic(let k): (set, i) = (synthetic!, k)
            }
            rows.append((set, i))
            var img = set.images.image(i)
            if let augment {
                var r = rng.split(UInt64(b))
                img = augment.apply(img, rng: &r)
            }
            for k in 0..<size { x.data[b * size + k] = img.data[k] * 2 - 1 }
        }
        return (x, stack(rows))
    }

    /// Concatenates the targets of (set, index) rows.
    static func stack(_ rows: [(LabeledImages, Int)]) -> Targets {
        guard let first = rows.first?.0.targets else { return .single([], classes: 0) }
        let k = first.classes
        switch first {
        case .single:
            return .single(rows.map { $0.0.targets.hardLabel($0.1) }, classes: k)
        case .soft:
            return .soft(rows.flatMap { row -> [Float] in
                guard case .soft(let p, _) = row.0.targets else { return [] }
                return Array(p[(row.1 * k)..<(row.1 * k + k)])
            }, classes: k)
        case .multi:
            var values: [Float] = [], mask: [Float] = []
            for row in rows {
                guard case .multi(let v, let m, _) = row.0.targets else { continue }
                values += v[(row.1 * k)..<(row.1 * k + k)]
                mask += m[(row.1 * k)..<(row.1 * k + k)]
            }
            return .multi(values: values, mask: mask, classes: k)
        }
    }

    /// The loss for the label kind and its gradient w.r.t. the logits.
    static func lossAndGradient(_ logits: Tensor, _ targets: Targets, _ config: ClassifierSettings) -> (Float, Tensor) {
        switch targets {
        case .single(let y, _):
            return config.loss == .focal
                ? Losses.focal(logits: logits, targets: y, gamma: config.focalGamma)
                : Losses.crossEntropy(logits: logits, targets: y)
        case .soft(let p, let k):
            let q = Tensor(shape: [p.count / k, k], data: p)
            return config.loss == .focal
                ? Losses.focal(logits: logits, probabilities: q, gamma: config.focalGamma)
                : Losses.crossEntropy(logits: logits, probabilities: q)
        case .multi(let v, let m, let k):
            let n = v.count / k
            let y = Tensor(shape: [n, k], data: v), mask = Tensor(shape: [n, k], data: m)
            // No α class weight (α = −1): the softmax heads' focal loss has none either, and the paper
            // names only Lin et al.'s modulating factor.
            return config.loss == .focal
                ? Losses.sigmoidFocal(logits: logits, targets: y, mask: mask, gamma: config.focalGamma, alpha: -1)
                : Losses.bceWithLogits(logits: logits, targets: y, mask: mask)
        }
    }

    /// Which examples each step of one epoch trains on. Without `oversample`, the α mix of `source`.
    /// With it, every real pick of the mix is replaced by the next entry of an order over the real
    /// examples in which every group value is equally frequent (`Sampling.balancedOrder`); at α = 1
    /// that is the whole batch. Rows of unknown group (−1) are left out of the balanced order; when
    /// no row has a group the mix is used unchanged.
    struct EpochPlan {
        let source: Sampling.MixedSource
        let batch: Int
        let balanced: [Int]
        var cursor = 0

        init(config: ClassifierSettings, real: LabeledImages, source: Sampling.MixedSource, epoch: Int, stepsPerEpoch: Int) {
            self.source = source
            batch = config.batch
            balanced = config.oversample
                ? Sampling.balancedOrder(groups: real.groups, count: stepsPerEpoch * config.batch,
                                         seed: config.seed &+ UInt64(epoch) &* 7919)
                : []
        }

        /// The picks of global training step `step`.
        mutating func next(step: Int) -> [Sampling.Pick] {
            let mixed = source.batch(step: step, size: batch)
            guard !balanced.isEmpty else { return mixed }
            return mixed.map { pick in
                guard case .real = pick else { return pick }
                defer { cursor += 1 }
                return .real(balanced[cursor % balanced.count])
            }
        }
    }
}
