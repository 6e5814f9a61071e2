import ArgumentParser
import Foundation
import Fairness

/// `fairgen metrics PREDICTIONS.csv --group COL … --high-risk CLASS …` — the metric suite on any model's
/// predictions; prints the one-evaluation JSON of DESIGN §6. All logic lives in `Fairness`.
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Accuracy, top-3, balanced accuracy, AUC and per-group fairness tables of a predictions CSV.",
        discussion: """
            PREDICTIONS.csv has a header with `label` (true class name), `score_<class>` for every class and \
            any attribute columns. Prints the split object of metrics.json (docs/metrics.md) to stdout.
            """)

    @Argument(help: "CSV with label, score_<class> and attribute columns.")
    var predictions: String

    @Option(name: .customLong("group"),
            help: "Attribute column to report per group (repeatable); a blank cell is a missing value, reported apart as missing_attribute.")
    var groups: [String] = []

    @Option(name: .customLong("high-risk"), help: "High-risk class for the sensitivity metric (repeatable).")
    var highRisk: [String] = []

    @Option(help: "Comma-separated class order (default: order of the score_ columns).")
    var classes: String?

    @Option(name: .customLong("outgroup-seed"),
            help: "Add the group-vs-outgroup top-3 posterior (100,000 samples) drawn with this seed.")
    var outgroupSeed: UInt64?

    func run() throws {
        let json: String
        do {
            let order = classes.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            let input = try readPredictions(path: predictions, groupColumns: groups, classes: order)
            let risky = try classIndices(of: highRisk, in: input.classes, option: "--high-risk")
            let metrics = evaluateSplit(labels: input.labels, scores: input.scores, classes: input.classes,
                                        highRisk: risky, attributes: input.attributes, posteriorSeed: outgroupSeed)
            json = metrics.json.serialized(indent: 2)
        } catch let error as PredictionsCSVError {
            Console.error("fairgen metrics: \(error.message)")
            throw ExitCode(1)
        }
        print(json)
    }
}
