import Foundation
import Testing
@testable import NN
import Tensors

@Suite struct EMATests {
    /// e ← d·e + (1−d)·p over a fixture sequence, with and without warm-up, matches PyTorch; the live
    /// parameter is never modified by `update`.
    @Test func matchesTorchSequenceAndLeavesLiveWeightsAlone() throws {
        let f = try trainFixture("train_optim.safetensors")
        let seq = f.tensors["ema.seq"]!
        func frame(_ s: Tensor, _ k: Int) -> Tensor { Tensor(shape: [3, 4], data: Array(s.data[(12 * k)..<(12 * k + 12)])) }
        for (key, warm) in [("ema.plain", false), ("ema.warm", true)] {
            let p = Parameter(name: "w", value: frame(seq, 0))
            let ema = EMA(parameters: [p])
            for t in 1...5 {
                p.value = frame(seq, t)
                let d = ema.update(decay: 0.9, warmup: warm)
                #expect(d == (warm ? min(0.9, Float(Double(t) / Double(9 + t))) : 0.9))
                #expect(p.value == frame(seq, t), "live weights must not change")
                trainExpectClose(ema.value(named: "w")!, frame(f.tensors[key]!, t - 1), "\(key) update \(t)")
            }
            #expect(ema.updateCount == 5)
        }
    }

    @Test func copyIntoSecondModelAndNamedTensors() {
        let a = Parameter(name: "l.weight", value: Tensor(repeating: 1, shape: [2])), b = Parameter(name: "l.bias", value: Tensor(repeating: 2, shape: [1]))
        let ema = EMA(parameters: [a, b])
        a.value = Tensor(repeating: 3, shape: [2])
        ema.update(decay: 0.75)
        #expect(ema.tensors.map(\.name) == ["l.weight", "l.bias"])
        #expect(ema.value(named: "l.weight")!.data == [1.5, 1.5])
        #expect(ema.value(named: "l.bias")!.data == [2])
        let sampler = [Parameter(name: "l.bias", value: Tensor(zeros: [1])), Parameter(name: "l.weight", value: Tensor(zeros: [2]))]
        ema.copy(into: sampler)
        #expect(sampler[0].value.data == [2] && sampler[1].value.data == [1.5, 1.5])
        #expect(a.value.data == [3, 3])
        #expect(ema.value(named: "nope") == nil)
    }
}
