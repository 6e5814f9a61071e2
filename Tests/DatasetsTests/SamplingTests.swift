import Testing
@testable import Datasets

@Suite struct SamplingTests {
    @Test func mixedSourceHonoursAlphaAndIsReproducible() {
        for alpha in [0.0, 0.25, 0.5, 1.0] {
            let src = Sampling.MixedSource(realCount: 100, syntheticCount: 300, alpha: alpha, seed: 5)
            var real = 0, total = 0
            for step in 0..<200 {
                for p in src.batch(step: step, size: 32) {
                    total += 1
                    switch p {
                    case .real(let i): real += 1; #expect(i >= 0 && i < 100)
                    case .synthetic(let i): #expect(i >= 0 && i < 300)
                    }
                }
            }
            #expect(abs(Double(real) / Double(total) - alpha) < 0.02)
            #expect(src.batch(step: 17, size: 8) == src.batch(step: 17, size: 8))
        }
        let a = Sampling.MixedSource(realCount: 10, syntheticCount: 10, alpha: 0.5, seed: 1)
        #expect(a.batch(step: 0, size: 16) != a.batch(step: 1, size: 16))
    }

    @Test func balancedOrderEqualisesGroups() {
        let groups = [Int](repeating: 0, count: 90) + [Int](repeating: 1, count: 9) + [2, -1]
        let order = Sampling.balancedOrder(groups: groups, count: 300, seed: 3)
        #expect(order.count == 300)
        var counts = [0, 0, 0]
        for i in order { counts[groups[i]] += 1 }
        #expect(counts == [100, 100, 100])
        #expect(!order.contains(100))    // the unknown-group row
    }

    @Test func fairPlanKeepsLabelDistributionAndMakesAttributesUniform() {
        let labels = [Int](repeating: 0, count: 60) + [Int](repeating: 1, count: 30) + [Int](repeating: 2, count: 10)
        let plan = Sampling.fairPlan(labels: labels, classCount: 3, attributeValues: 3, count: 300, seed: 9)
        #expect(plan.count == 300)
        var byLabel = [0, 0, 0], byAttr = [0, 0, 0]
        for p in plan { byLabel[p.label] += 1; byAttr[p.attribute] += 1 }
        #expect(byLabel == [180, 90, 30])
        #expect(byAttr == [100, 100, 100])
        for y in 0..<3 {
            let attrs = plan.filter { $0.label == y }.map(\.attribute)
            for a in 0..<3 { #expect(attrs.filter { $0 == a }.count == byLabel[y] / 3) }
        }
    }

    @Test func skewRemovesOnlyTheMinorityAndIsNested() {
        let values = [Int](repeating: 0, count: 50) + [Int](repeating: 1, count: 20) + [Int](repeating: 2, count: 10)
        let half = Set(Sampling.skew(values: values, keep: 0.5, seed: 4))
        let fifth = Set(Sampling.skew(values: values, keep: 0.2, seed: 4))
        #expect(half.filter { values[$0] == 2 }.count == 5)
        #expect(fifth.filter { values[$0] == 2 }.count == 2)
        #expect(fifth.isSubset(of: half))
        #expect(half.filter { values[$0] != 2 }.count == 70)
        #expect(Sampling.skew(values: values, keep: 1, seed: 4).count == 80)
    }

    @Test func labelBudgetKeepsUnlabeledAndCapsEachDomain() {
        let domains = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
        let labeled = [true, true, true, false, true, true, true, true, false, false]
        let kept = Sampling.labelBudget(domains: domains, labeled: labeled, perDomain: 2, seed: 1)
        #expect(kept.filter { labeled[$0] && domains[$0] == 0 }.count == 2)
        #expect(kept.filter { labeled[$0] && domains[$0] == 1 }.count == 2)
        #expect(kept.filter { labeled[$0] && domains[$0] == 2 }.count == 1)
        #expect([3, 8, 9].allSatisfy(kept.contains))
        let one = Set(Sampling.labelBudget(domains: domains, labeled: labeled, perDomain: 1, seed: 1))
        #expect(one.isSubset(of: Set(kept)))
    }

    @Test func allocateIsExactAndProportional() {
        #expect(Sampling.allocate(10, weights: [1, 1, 1]) == [4, 3, 3])
        #expect(Sampling.allocate(7, weights: [3, 0, 1]).reduce(0, +) == 7)
        #expect(Sampling.allocate(100, weights: [0.6, 0.3, 0.1]) == [60, 30, 10])
    }
}
