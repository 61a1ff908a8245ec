import WeirCore
import WeirRules

/// One action to run for one rule output row: the unit of work of the function pool.
public struct Invocation: Sendable {
    public let rule: String
    public let action: ActionSpec
    public let row: JSONObject
    /// The topic of the event that produced the row.
    public let topic: String
    /// When the triggering event reached Weir (ms since epoch).
    public let receivedAt: Int64
    /// Monotonic time of ingest, for publish-to-action latency.
    public let ingestNanos: UInt64
    /// Called by the pool once the action has run (true) or failed (false): lets a window delete
    /// its saved state only after its row is safely handed on.
    public var onCompletion: (@Sendable (Bool) -> Void)?

    public init(rule: String, action: ActionSpec, row: JSONObject, topic: String, receivedAt: Int64, ingestNanos: UInt64 = monotonicNanos()) {
        self.rule = rule
        self.action = action
        self.row = row
        self.topic = topic
        self.receivedAt = receivedAt
        self.ingestNanos = ingestNanos
    }
}

/// Runs invocations of some kinds of action. The pool calls it from its workers.
public protocol ActionExecutor: Sendable {
    func execute(_ invocation: Invocation) async throws
}

/// Where `publish` actions go: the local broker in production, a recorder in unit tests.
public protocol MessagePublisher: Sendable {
    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws
}
