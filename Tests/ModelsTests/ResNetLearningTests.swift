import Testing
@testable import Models
import NN
import Tensors

@Suite struct ResNetLearningTests {
    /// Bright vs dark 16×16 noise images: a small ResNet trained with SGD must separate them.
    @Test func learnsBrightVersusDark() {
        var rng = RNG(seed: 42)
        let n = 64, side = 16
        var images = Tensor(zeros: [n, 1, side, side])
        var labels = [Int](repeating: 0, count: n)
        for i in 0..<n {
            labels[i] = i % 2
            let base: Float = labels[i] == 1 ? 0.65 : 0.35
            for j in 0..<(side * side) { images.data[i * side * side + j] = base + 0.25 * (rng.uniform() - 0.5) }
        }
        let model = ResNet(ResNetConfig(inChannels: 1, numOutputs: 2, resolution: side, widths: [4, 8, 8, 16]),
                           rng: &rng)
        let sgd = SGD(parameters: model.parameters, learningRate: 0.05, momentum: 0.9)
        let batch = 16, per = side * side
        var firstLoss: Float = 0, lastLoss: Float = 0
        for step in 0..<100 {
            let start = (step * batch) % n
            let x = Tensor(shape: [batch, 1, side, side],
                           data: Array(images.data[(start * per)..<((start + batch) * per)]))
            sgd.zeroGrad()
            let (loss, grad) = Losses.crossEntropy(logits: model.forward(x), targets: Array(labels[start..<(start + batch)]))
            _ = model.backward(grad)
            sgd.step()
            if step == 0 { firstLoss = loss }
            lastLoss = loss
        }
        model.training = false
        let logits = model.forward(images)
        var correct = 0
        for i in 0..<n where (logits.data[2 * i + 1] > logits.data[2 * i] ? 1 : 0) == labels[i] { correct += 1 }
        #expect(Double(correct) / Double(n) >= 0.95, "eval accuracy \(correct)/\(n), loss \(firstLoss) → \(lastLoss)")
        #expect(lastLoss < firstLoss)
    }
}
