import Foundation
import Testing
import Tensors
@testable import Fairness

@Suite struct SchemaTests {
    let validator: SchemaValidator = {
        let url = Fixture.packageRoot.appendingPathComponent("docs/metrics.schema.json")
        let data = try! Data(contentsOf: url)
        return SchemaValidator(root: try! JSONSerialization.jsonObject(with: data) as! [String: Any])
    }()

    var evaluationSchema: [String: Any] { validator.resolve("#/$defs/evaluation")! }

    /// Produced JSON text parsed back with Foundation (what a consumer sees).
    func parsed(_ v: JSONValue) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(v.serialized().utf8), options: [.fragmentsAllowed])
    }

    func sampleSplit(seed: UInt64) -> SplitMetrics {
        var rng = RNG(seed: seed)
        let n = 80, c = 4
        let labels = (0..<n).map { _ in rng.int(below: c) }
        let scores = ScoreMatrix(rows: n, columns: c, values: (0..<(n * c)).map { _ in (rng.uniformDouble() * 10).rounded() / 10 })
        let tone = (0..<n).map { _ in ["I", "II", "V"][rng.int(below: 3)] }
        // Every fifth row has no sex: the tables get `missing_attribute`.
        let sex: [String?] = (0..<n).map { $0 % 5 == 0 ? nil : ["F", "M"][rng.int(below: 2)] }
        return evaluateSplit(labels: labels, scores: scores, classes: ["a", "b", "c", "d"], highRisk: [1],
                             attributes: [AttributeColumn(name: "tone", values: tone, expectedValues: ["VI"]),
                                          AttributeColumn(name: "sex", values: sex)],
                             posteriorSeed: seed)
    }

    @Test func singleEvaluationOutputIsValid() throws {
        let doc = try parsed(sampleSplit(seed: 1).json)
        #expect(validator.errors(doc, schema: evaluationSchema) == [])
        // The sklearn-computed fixture (also checked by python jsonschema) passes too.
        #expect(validator.errors(try Fixture.json("predictions_small_expected.json"), schema: evaluationSchema) == [])
        // Multi-label evaluations (nulls for single-label metrics, auc_parity) are valid.
        let ml = evaluateMultiLabel(targets: [1, 0, 0, 1, 1, 1, 0, 0, 1, 0], mask: nil,
                                    scores: ScoreMatrix(rows: 5, columns: 2, values: [0.9, 0.1, 0.2, 0.8, 0.7, 0.6, 0.1, 0.3, 0.5, 0.5]),
                                    conditions: ["edema", "effusion"],
                                    attributes: [AttributeColumn(name: "sex", values: ["F", "M", "F", "M", "F"]),
                                                 AttributeColumn(name: "race", values: ["a", "b", "b", "a", nil], expectedValues: ["c"])])
        let mlDoc = try parsed(ml.json) as! [String: Any]
        #expect(validator.errors(mlDoc, schema: evaluationSchema) == [])
        // The new sections are there (so the validator really looked at them) and are checked.
        let race = (mlDoc["by_group"] as! [String: Any])["race"] as! [String: Any]
        #expect(race["missing_attribute"] != nil && (race["gap"] as! [String: Any])["auc_per_class"] != nil)
        #expect(((mlDoc["auc_parity"] as! [String: Any])["race"] as! [String: Any])["edema"] != nil)
        var badML = mlDoc
        badML["auc_parity"] = ["race": ["edema": ["groups": [:], "gap": "wide"]]]
        #expect(validator.errors(badML, schema: evaluationSchema).contains { $0.hasPrefix("$.auc_parity.race.edema.gap: expected number or null") })
        var noF1 = try parsed(sampleSplit(seed: 1).json) as! [String: Any]
        #expect((noF1["by_group"] as! [String: Any]).keys.contains("sex"))
        noF1["f1_macro"] = nil
        #expect(validator.errors(noF1, schema: evaluationSchema) == ["$: missing required 'f1_macro'"])
    }

    @Test func seedAggregatedMetricsFileIsValid() throws {
        let split = aggregateSeeds([sampleSplit(seed: 1).json, sampleSplit(seed: 2).json, sampleSplit(seed: 3).json])
        let d = pairedDifference([0.5, 0.6, 0.55], [0.45, 0.5, 0.52]).json
        let comparison: JSONValue = .fields(["verdict": .string("helped"), "worst_group_accuracy": d, "accuracy": d, "gap": d])
        let doc: JSONValue = .fields([
            "schema": .int(1), "dataset": .string("derm-demo"), "version": .int(3),
            "variants": .fields([
                "baseline": .fields(["seeds": .int(3), "splits": .fields(["test_id": split, "test_ood": split])]),
                "synthetic_a0.50+heuristic": .fields(["seeds": .int(3), "splits": .fields(["test_id": split])]),
                "synthetic_a0.50+oversample": .fields(["seeds": .int(3), "splits": .fields(["test_id": split])]),
            ]),
            "selected_alpha": .number(0.5), "selection": .string("val balanced accuracy"),
            "selected_variant": .string("synthetic_a0.50+oversample"),
            "mmd": .fields(["pairs": .array([.fields([
                "kind": .string("split"), "a": .string("train"), "b": .string("test_ood"), "variant": .string("baseline"),
                "mean": .number(0.01), "std": .number(0.002), "n": .int(300), "S": .int(30)]), .fields([
                "kind": .string("domain"), "a": .string("hospital_1"), "b": .string("hospital_3"), "variant": .string("synthetic_a0.50"),
                "mean": .number(0.01), "std": .number(0.002), "n": .int(300), "S": .int(30),
                "mann_whitney_p_vs_baseline": .number(0.03)])])]),
            "comparisons": .fields(["test_id": .fields(["synthetic_a0.50-baseline": comparison])]),
            "representations": .fields([
                "measure": .string("principal components for 90 % of the feature variance"), "fraction": .number(0.9),
                "max_rows": .int(1000),
                "variants": .fields(["baseline": .fields(["train": aggregateSeeds([12, 14, 13]).json,
                                                          "test_ood": aggregateSeeds([10, nil, 11]).json])]),
            ]),
            "misclassified_by_every_seed": .fields([
                "seeds": .int(3), "cap": .int(100),
                "variants": .fields(["baseline": .fields(["test_id": .fields([
                    "n": .int(80), "count": .int(2), "rows": .array([.int(4), .int(17)]),
                    "paths": .array([.string("img/4.png"), .string("img/17.png")]),
                    "by_group": .fields(["tone": .fields(["I": .int(1), "II": .int(1)])]),
                ])])]),
            ]),
        ])
        let parsedDoc = try parsed(doc)
        #expect(validator.errors(parsedDoc) == [])
        // A verdict outside the documented three is rejected.
        var bad = parsedDoc as! [String: Any]
        var c = ((bad["comparisons"] as! [String: Any])["test_id"] as! [String: Any])["synthetic_a0.50-baseline"] as! [String: Any]
        c["verdict"] = "better"
        bad["comparisons"] = ["test_id": ["synthetic_a0.50-baseline": c]]
        #expect(validator.errors(bad).contains { $0.hasPrefix("$.comparisons.test_id.synthetic_a0.50-baseline.verdict: expected one of") })
        // Only the documented stacks are variant names.
        var stacked = parsedDoc as! [String: Any]
        var variants = stacked["variants"] as! [String: Any]
        variants["synthetic_a0.50+focal"] = variants["synthetic_a0.50+heuristic"]
        stacked["variants"] = variants
        #expect(!validator.errors(stacked).isEmpty)
        // The new top-level sections are checked, not merely allowed.
        var badPCA = parsedDoc as! [String: Any]
        var representations = badPCA["representations"] as! [String: Any]
        representations["fraction"] = 1.5
        badPCA["representations"] = representations
        #expect(validator.errors(badPCA).contains { $0.hasPrefix("$.representations.fraction") })
        var badList = parsedDoc as! [String: Any]
        badList["misclassified_by_every_seed"] = ["seeds": 3, "cap": 100,
                                                  "variants": ["baseline": ["test_id": ["n": 80, "rows": [4], "paths": ["x"], "by_group": [:]]]]]
        #expect(validator.errors(badList) == ["$.misclassified_by_every_seed.variants.baseline.test_id: missing required 'count'"])
        var badPair = parsedDoc as! [String: Any]
        badPair["mmd"] = ["pairs": [["kind": "hospital", "a": "x", "b": "y", "variant": "baseline", "mean": 0, "std": 0, "n": 2, "S": 1]]]
        #expect(validator.errors(badPair).contains { $0.hasPrefix("$.mmd.pairs[0].kind: expected one of") })
        // The aggregated split is not a single evaluation and vice versa.
        #expect(!validator.errors(try parsed(split), schema: evaluationSchema).isEmpty)
        #expect(!validator.errors(try parsed(sampleSplit(seed: 1).json), schema: validator.resolve("#/$defs/seeds_evaluation")!).isEmpty)
    }

    @Test func validatorRejectsBrokenDocuments() throws {
        var broken = try parsed(sampleSplit(seed: 1).json) as! [String: Any]
        broken["accuracy"] = nil
        #expect(validator.errors(broken, schema: evaluationSchema).contains("$: missing required 'accuracy'"))
        broken["accuracy"] = "high"
        #expect(validator.errors(broken, schema: evaluationSchema).first?.hasPrefix("$.accuracy: expected number or null") == true)
        broken["accuracy"] = 0.5
        broken["extra"] = 1
        #expect(validator.errors(broken, schema: evaluationSchema) == ["$.extra: property not allowed"])
        let badTop: [String: Any] = ["schema": 2, "dataset": "x", "version": 1, "variants": ["mystery": [:]]]
        let errs = validator.errors(badTop)
        #expect(errs.contains("$.schema: expected const 1"))
        #expect(errs.contains("$.variants.mystery: property not allowed"))
    }

    /// A metrics.json the quick chain wrote with a guidance × confidence sweep (trimmed to one variant and
    /// two generator cells; produced by `fairgen run` with `sample: {guidance: [1, 2], min_confidence: [0, 0.5]}`)
    /// validates, including `levers` and the MMD pairs' Mann–Whitney p-values; breaking `levers` is caught.
    @Test func chainOutputWithLeversIsValid() throws {
        let doc = try Fixture.json("chain_quick_levers.json") as! [String: Any]
        #expect(validator.errors(doc) == [])
        var broken = doc
        var levers = doc["levers"] as! [String: Any]
        levers["chosen"] = ["guidance": 1]
        broken["levers"] = levers
        #expect(!validator.errors(broken).isEmpty)
        broken = doc
        levers = doc["levers"] as! [String: Any]
        levers["extra"] = 1
        broken["levers"] = levers
        #expect(!validator.errors(broken).isEmpty)
    }
}
