import Foundation
import Testing
@testable import NN
import Tensors

@Suite struct ScheduleTests {
    @Test func warmupCosineMatchesReferenceValues() throws {
        let f = try trainFixture("train_optim.safetensors")
        let cfg = f.tensors["sched.config"]!.data
        let s = LRSchedule.warmupCosine(peak: cfg[0], warmupSteps: Int(cfg[1]), totalSteps: Int(cfg[2]), floor: cfg[3])
        let want = f.tensors["sched.values"]!
        trainExpectClose(Tensor(shape: [want.count], data: (0..<want.count).map { s.lr(at: $0) }), want, abs: 1e-10, rel: 1e-5, "schedule")
    }

    @Test func shapeOfTheSchedule() {
        let s = LRSchedule.warmupCosine(peak: 1, warmupSteps: 10, totalSteps: 110, floor: 0.1)
        #expect(s.lr(at: 0) == 0.1)           // first warm-up step already learns
        #expect(s.lr(at: 9) == 1)             // warm-up ends at the peak
        #expect(s.lr(at: 10) == 1)            // cosine starts at the peak
        #expect(abs(s.lr(at: 60) - 0.55) < 1e-6) // halfway: mean of peak and floor
        #expect(s.lr(at: 110) == 0.1 && s.lr(at: 10_000) == 0.1)
        for k in 10..<110 { #expect(s.lr(at: k + 1) <= s.lr(at: k)) }
        for k in 0..<9 { #expect(s.lr(at: k + 1) > s.lr(at: k)) }
        let noWarm = LRSchedule.warmupCosine(peak: 2, warmupSteps: 0, totalSteps: 4)
        #expect(noWarm.lr(at: 0) == 2 && noWarm.lr(at: 4) == 0)
        #expect(LRSchedule.constant(3e-4).lr(at: 0) == 3e-4 && LRSchedule.constant(3e-4).lr(at: 99_999) == 3e-4)
    }
}
