/// What a dead letter is for; stored (and printed by `weir dlq`) as its raw string.
///
/// The known kinds are cases; a stored kind this version does not know (written by a newer
/// Weir, say) decodes as `unknown` with its string kept, so it is still listed, shown and purged.
/// Two kinds are equal when their strings are: `unknown("function")` is `.function`.
public enum DeadLetterKind: Sendable {
    /// A batch an upstream refused for good (replayable).
    case upstream
    /// An outbox record that could not be read.
    case record
    /// A function invocation that failed its last attempt (replayable).
    case function
    /// Function output that could not become an event.
    case emit
    /// A `publish` row whose values would have taken the topic out of its template (kept for
    /// inspection; replaying would be refused again).
    case publish
    /// A kind this version does not know, with its stored string.
    case unknown(String)
}

extension DeadLetterKind: RawRepresentable {
    /// The kind stored as `rawValue`; never fails (an unknown string is `unknown`).
    public init(rawValue: String) {
        switch rawValue {
        case "upstream": self = .upstream
        case "record": self = .record
        case "function": self = .function
        case "emit": self = .emit
        case "publish": self = .publish
        default: self = .unknown(rawValue)
        }
    }

    /// The stored string: `upstream`, `record`, `function`, `emit`, `publish`, or an unknown kind's own.
    public var rawValue: String {
        switch self {
        case .upstream: "upstream"
        case .record: "record"
        case .function: "function"
        case .emit: "emit"
        case .publish: "publish"
        case .unknown(let raw): raw
        }
    }
}

extension DeadLetterKind: Hashable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}

extension DeadLetterKind: ExpressibleByStringLiteral, CustomStringConvertible {
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public var description: String { rawValue }
}
