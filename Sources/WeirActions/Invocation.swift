import WeirCore
import WeirRules

/// One action to run for one rule output row: the unit of work of the action pool.
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
    /// Called by the pool once the action has run: true when it is settled (it succeeded, or
    /// failed for good), false when it is not (the store refused its write). Lets a window delete
    /// its saved state only after its row is safely handed on.
    public var onCompletion: (@Sendable (Bool) -> Void)?
    /// Function hops behind the triggering event (0 for device events), for the chain limit.
    public var hops = 0
    /// Which attempt this is (from 1): a failed `call:` comes back to the pool with the next one.
    public var attempt = 1
    /// The batch of broker messages whose acknowledgement waits for this action to be settled
    /// (durable, or ended for good); nil when nothing waits (`ack: receipt`, window closes).
    public var settlement: Settlement?
    /// The invocation's id in the journal, once journaled (`call:` actions).
    public var journalID: UInt64?

    public init(rule: String, action: ActionSpec, row: JSONObject, topic: String, receivedAt: Int64, ingestNanos: UInt64 = monotonicNanos())
    {
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

/// Where an action started inline stands.
public enum Started: Sendable {
    /// Finished already (a QoS 0 publish handed to the client): the pool books it at once, with
    /// no task and no thread hand-off per event.
    case done
    /// Finishes when the completion returns (an outbox append's fsync, a broker's PUBACK).
    case pending(Completion)
}

/// Runs invocations of some kinds of action. The pool calls it from its workers.
public protocol ActionExecutor: Sendable {
    func execute(_ invocation: Invocation) async throws
    /// Starts, synchronously and in submission order, an action that finishes without a worker
    /// (a forward: queued in its outbox now, durable after the next fsync), returning whether it
    /// is done or what to await for it to complete; nil queues it for a worker to `execute`. The
    /// default is nil.
    func startInline(_ invocation: Invocation) throws -> Started?
    /// Gives up on an invocation that cannot wait for its retry (the pending-retry bound is
    /// reached): it becomes a dead letter. Throws when the letter could not be stored.
    func abandon(_ invocation: Invocation, reason: String) async throws
}

extension ActionExecutor {
    public func startInline(_ invocation: Invocation) throws -> Started? { nil }
    public func abandon(_ invocation: Invocation, reason: String) async throws {}
}

/// Where `publish` actions go: the local broker in production, a recorder in unit tests.
public protocol MessagePublisher: Sendable {
    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws
    /// Queues the publish now, in call order: done when nothing more is owed (QoS 0), else what
    /// completes once the broker has it. The default publishes when the completion is awaited.
    func startPublish(topic: String, payload: [UInt8], qos: Int, retain: Bool) throws -> Started
}

extension MessagePublisher {
    public func startPublish(topic: String, payload: [UInt8], qos: Int, retain: Bool) throws -> Started {
        .pending { try await self.publish(topic: topic, payload: payload, qos: qos, retain: retain) }
    }
}

/// Where `call:` invocations are kept while they are queued, running or waiting for a retry,
/// so that they resume after a crash or restart (at least once).
public protocol InvocationJournaling: Sendable {
    /// Journals `invocation` and returns its id at once; `whenDurable` runs once it is fsynced
    /// (nil) or could not be written (the error).
    func record(_ invocation: Invocation, whenDurable: @escaping @Sendable ((any Error)?) -> Void) -> UInt64
    /// Its next attempt is `attempt` (it waits for a retry).
    func update(_ id: UInt64, attempt: Int)
    /// Its outcome is settled: it ran, or it is a dead letter.
    func remove(_ id: UInt64)
}

/// The pool stopped taking work before this action was queued.
public struct PoolStopped: UnsettledError {
    public init() {}
    public var description: String { "the function pool is stopping" }
}
