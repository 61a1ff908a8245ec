/// A window from a rule's GROUP BY. Times are milliseconds.
public enum WindowSpec: Sendable, Equatable, CustomStringConvertible {
    /// Fixed, non-overlapping windows aligned to the epoch: [k·size, (k+1)·size).
    case tumbling(size: Int64)
    /// Windows of `size` starting every `hop` (aligned to the epoch); an event is in size/hop of them.
    case hopping(size: Int64, hop: Int64)
    /// On every event, the events of its group in the `size` before it (inclusive).
    case sliding(size: Int64)
    /// Per group: open while events keep arriving within `gap`; closes after `gap` of silence or
    /// once it has lasted `maxDuration`.
    case session(gap: Int64, maxDuration: Int64?)
    /// Per group: every `size` events (tumbling), or the last `size` events every `hop` events.
    case count(size: Int, hop: Int?)

    public var description: String {
        switch self {
        case .tumbling(let size): return "TUMBLING(\(size)ms)"
        case .hopping(let size, let hop): return "HOPPING(\(size)ms, \(hop)ms)"
        case .sliding(let size): return "SLIDING(\(size)ms)"
        case .session(let gap, let max): return "SESSION(\(gap)ms\(max.map { ", \($0)ms" } ?? ""))"
        case .count(let size, let hop): return "COUNT(\(size)\(hop.map { ", \($0)" } ?? ""))"
        }
    }

    /// Whether windows close by time (and so by the watermark), not by event counts.
    public var isTimeBased: Bool {
        if case .count = self { return false }
        return true
    }
}
