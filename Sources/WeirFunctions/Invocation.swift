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
    /// Function hops behind the triggering event (0 for device events), for the chain limit.
    public var hops = 0
    /// Which attempt this is (from 1): a failed `call:` comes back to the pool with the next one.
    public var attempt = 1

    public init(rule: String, action: ActionSpec, row: JSONObject, topic: String, receivedAt: Int64, ingestNanos: UInt64 = monotonicNanos()) {
        self.rule = rule
        self.action = action
        self.row = row
        self.topic = topic
        self.receivedAt = receivedAt
        self.ingestNanos = ingestNanos
    }
}

/// Thrown by an executor when the invocation failed but has attempts left: the pool runs it again
/// after `delay`, without holding a worker meanwhile.
public struct RetryLater: Error, Sendable, CustomStringConvertible {
    public var delay: Duration
    public var error: any Error
    public init(delay: Duration, error: any Error) {
        self.delay = delay
        self.error = error
    }
    public var description: String { "\(error) (retrying in \(delay))" }
}

/// What to await for an action that was started but finishes later (a queued outbox append
/// becoming durable).
public typealias Completion = @Sendable () async throws -> Void

/// Runs invocations of some kinds of action. The pool calls it from its workers.
public protocol ActionExecutor: Sendable {
    func execute(_ invocation: Invocation) async throws
    /// Starts, synchronously and in submission order, an action that finishes without a worker
    /// (a forward: queued in its outbox now, durable after the next fsync), returning what to
    /// await for it to complete; nil queues it for a worker to `execute`. The default is nil.
    func startInline(_ invocation: Invocation) throws -> Completion?
}

extension ActionExecutor {
    public func startInline(_ invocation: Invocation) throws -> Completion? { nil }
}

/// Where `publish` actions go: the local broker in production, a recorder in unit tests.
public protocol MessagePublisher: Sendable {
    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws
}
