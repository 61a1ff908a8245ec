/// A forwarded row's class in its upstream's outbox (`forward: { upstream, priority }`). After an
/// outage higher classes are sent first; within a class, rows keep their order. When the outbox is
/// full, `drop_oldest` drops from the lowest class first.
public enum OutboxPriority: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case high = 0
    case normal = 1
    case low = 2

    /// As written in rule files and shown in stats and metrics.
    public var description: String {
        switch self {
        case .high: return "high"
        case .normal: return "normal"
        case .low: return "low"
        }
    }

    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = found
    }

    /// Higher classes sort first.
    public static func < (a: OutboxPriority, b: OutboxPriority) -> Bool { a.rawValue < b.rawValue }
}
