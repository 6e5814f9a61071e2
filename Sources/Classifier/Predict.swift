import Fairness
import Tensors

/// A model's outputs on a set of images.
public struct ClassifierOutputs: Sendable {
    /// Probabilities `[N × classes]` row-major: softmax for single/soft labels, per-condition sigmoid for multi.
    public var scores: [Float]
    public var classes: Int
    /// Penultimate-layer features `[N × featureDim]` row-major (empty unless requested).
    public var features: [Float]
    public var featureDim: Int

    public var count: Int { classes > 0 ? scores.count / classes : 0 }

    /// Scores in the form the metric functions take.
    public var scoreMatrix: ScoreMatrix { ScoreMatrix(rows: count, columns: classes, floats: scores) }

    /// Features in the form the MMD/PCA functions take.
    public var featureSet: FeatureSet { FeatureSet(rows: count, dimension: featureDim, values: features) }
}

extension ClassifierTrainer {
    /// Runs `network` in eval mode over `images` in batches of `batch`.
    public static func predict(_ network: ClassifierNetwork, images: ImageBank, multiLabel: Bool,
                               withFeatures: Bool = false, batch: Int = 128) -> ClassifierOutputs {
        let wasTraining = network.training
        network.training = false
        defer { network.training = wasTraining }
        var scores: [Float] = [], features: [Float] = []
        var classes = 0, featureDim = 0
        var start = 0
        while start < images.count {
            let idx = Array(start..<min(images.count, start + batch))
            let x = images.batch(idx)
            let logits: Tensor
            if withFeatures {
                let (f, l) = network.featuresAndLogits(x)
                featureDim = f.shape[1]
                features += f.data
                logits = l
            } else {
                logits = network.forward(x)
            }
            classes = logits.shape[1]
            scores += multiLabel ? sigmoid(logits.data) : softmaxRows(logits.data, classes: classes)
            start += batch
        }
        return ClassifierOutputs(scores: scores, classes: classes, features: features, featureDim: featureDim)
    }

    /// The model-selection score on the validation split: balanced accuracy (single/soft labels) or macro AUC
    /// over conditions with both outcomes present (multi-label). Higher is better.
    public static func validationScore(_ network: ClassifierNetwork, _ validation: LabeledImages) -> Double {
        let labeled = validation.labeledOnly()
        guard labeled.count > 0 else { return 0 }
        switch labeled.targets {
        case .multi(let v, let m, let k):
            let p = predict(network, images: labeled.images, multiLabel: true)
            var aucs: [Double] = []
            for c in 0..<k {
                var positive: [Bool] = [], s: [Double] = []
                for i in 0..<labeled.count where m[i * k + c] > 0 {
                    positive.append(v[i * k + c] > 0.5); s.append(Double(p.scores[i * k + c]))
                }
                if let auc = rocAUC(scores: s, positive: positive) { aucs.append(auc) }
            }
            return aucs.isEmpty ? 0 : aucs.reduce(0, +) / Double(aucs.count)
        default:
            let p = predict(network, images: labeled.images, multiLabel: false)
            let truth = (0..<labeled.count).map { labeled.targets.hardLabel($0) }
            return balancedAccuracy(labels: truth, scores: p.scoreMatrix) ?? 0
        }
    }

    static func softmaxRows(_ z: [Float], classes k: Int) -> [Float] {
        var out = z
        for r in 0..<(z.count / k) {
            var m = -Float.infinity
            for c in 0..<k { m = max(m, z[r * k + c]) }
            var s: Float = 0
            for c in 0..<k { let e = expf(z[r * k + c] - m); out[r * k + c] = e; s += e }
            for c in 0..<k { out[r * k + c] /= s }
        }
        return out
    }

    static func sigmoid(_ z: [Float]) -> [Float] { z.map { 1 / (1 + expf(-$0)) } }
}

#if canImport(Glibc)
import Glibc
#endif
