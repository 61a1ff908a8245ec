/// The longest duration Weir accepts anywhere (100 years): far past any real timeout, window or
/// schedule, and small enough that adding it to a timestamp in milliseconds cannot overflow.
public let maxDurationMilliseconds: Int64 = 36_500 * 86_400_000

/// The largest size Weir accepts (1 PiB): far past any real bound, and far from `Int.max`.
public let maxByteSize = 1 << 50

/// Parses durations written as operators write them: `500ms`, `10s`, `1m`, `2h`, `7d`. Nil for
/// anything else, including `inf` and durations over `maxDurationMilliseconds`.
public func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    for (suffix, millis) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        // "ms" must win over "s": "500ms" is not "500m" + "s".
        if suffix == "s", number.hasSuffix("m") { continue }
        guard let value = Double(number), value >= 0, value * Double(millis) <= Double(maxDurationMilliseconds) else { return nil }
        return .milliseconds(Int64(value * Double(millis)))
    }
    return nil
}

/// Parses sizes: plain bytes or `KiB`, `MiB`, `GiB` (also `KB`, `MB`, `GB`, taken as powers of
/// 1000). Nil for anything else, including `inf` and sizes over `maxByteSize`.
public func parseByteSize(_ text: String) -> Int? {
    let units: [(String, Double)] = [
        ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824),
        ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
    ]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        guard let value = Double(text.dropLast(suffix.count)), value >= 0, value * factor <= Double(maxByteSize) else { return nil }
        return Int(value * factor)
    }
    return Int(text).flatMap { (0...maxByteSize).contains($0) ? $0 : nil }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
