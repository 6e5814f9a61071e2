/// The largest of `errors` (0 when empty), or infinity when any is NaN or infinite. `Swift.max` and
/// `Sequence.max()` skip a NaN (every comparison with it is false), so an all-NaN result compared that
/// way would pass its tolerance.
func worstError<S: Sequence>(_ errors: S) -> S.Element where S.Element: BinaryFloatingPoint {
    var worst: S.Element = 0
    for e in errors {
        guard e.isFinite else { return .infinity }
        if e > worst { worst = e }
    }
    return worst
}
