import Fairness

extension MetricsSummary {
    /// Reads a metrics.json value built in memory by the Fairness module (ordered JSON tree), e.g. by
    /// the evaluate stage before it writes the file.
    public init(fairness value: Fairness.JSONValue) throws {
        try self.init(json: Array(value.serialized(indent: nil).utf8))
    }
}
