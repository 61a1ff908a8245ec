import Logging
import WeirCore
import WeirRules

/// Runs every kind of action: `publish` to the local broker, `log`, `forward` to an outbox and
/// `call` of a declared function.
public struct ActionRunner: ActionExecutor {
    public let publisher: any MessagePublisher
    public let logger: Logger
    /// Queues a row in an upstream's outbox (in call order) and returns what to await for it to
    /// be durable.
    public let forward: (@Sendable (String, Invocation) throws -> Completion)?

    /// Runs declared functions for `call:` actions.
    public let functions: FunctionRunner?
    /// Stores a row whose publish topic was refused (kind `publish`, the template as target).
    public let deadLetter: (@Sendable (FunctionFailure) async throws -> Void)?

    public init(
        publisher: any MessagePublisher, logger: Logger, forward: (@Sendable (String, Invocation) throws -> Completion)? = nil,
        functions: FunctionRunner? = nil, deadLetter: (@Sendable (FunctionFailure) async throws -> Void)? = nil
    ) {
        self.deadLetter = deadLetter
        self.publisher = publisher
        self.logger = logger
        self.forward = forward
        self.functions = functions
    }

    public func execute(_ invocation: Invocation) async throws {
        switch invocation.action {
        case .publish(let template, let qos, let retain):
            let topic: String
            do {
                topic = try template.renderTopic(invocation.row)
            } catch {
                try await refused(invocation, template, error)
            }
            try await publisher.publish(topic: topic, payload: JSONWriter.bytes(.object(invocation.row)), qos: qos, retain: retain)
        case .log(let level):
            logger.log(
                level: level.loggerLevel, "rule \(invocation.rule) matched",
                metadata: ["rule": "\(invocation.rule)", "topic": "\(invocation.topic)", "row": "\(JSONValue.object(invocation.row))"])
        case .forward(let upstream, _):
            guard let forward else { throw NoUpstreams(upstream: upstream) }
            try await forward(upstream, invocation)()
        case .call(let function):
            guard let functions else { throw FunctionError(function: function, message: "functions are not available") }
            try await functions.call(function, invocation)
        }
    }

    /// `forward` and `publish` are pipelined: the row is queued in its outbox, or the message in
    /// the publisher, at submission and in event order; the fsync or the broker's acknowledgement
    /// is awaited without holding a worker.
    public func startInline(_ invocation: Invocation) throws -> Started? {
        switch invocation.action {
        case .forward(let upstream, _):
            guard let forward else { throw NoUpstreams(upstream: upstream) }
            return .pending(try forward(upstream, invocation))
        case .publish(let template, let qos, let retain):
            let topic: String
            do {
                topic = try template.renderTopic(invocation.row)
            } catch {
                // The dead letter is a store write: awaited by the pool like a forward's fsync.
                return .pending { try await refused(invocation, template, error) }
            }
            return try publisher.startPublish(topic: topic, payload: JSONWriter.bytes(.object(invocation.row)), qos: qos, retain: retain)
        case .log, .call:
            return nil
        }
    }

    /// Dead-letters a publish whose topic was refused, then fails with the refusal (so the pool
    /// counts it under `reason="topic"`). A letter that cannot be stored fails the same way.
    private func refused(_ invocation: Invocation, _ template: Template, _ error: Template.RenderError) async throws -> Never {
        if let deadLetter {
            try await deadLetter(
                FunctionFailure(
                    kind: .publish, function: template.text, rule: invocation.rule, row: invocation.row, error: "\(error)", attempts: 1))
        }
        throw error
    }

    public func abandon(_ invocation: Invocation, reason: String) async throws {
        guard case .call(let function) = invocation.action, let functions else { return }
        try await functions.abandon(function, invocation, reason: reason)
    }
}

extension LogLevel {
    var loggerLevel: Logger.Level {
        switch self {
        case .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        }
    }
}

/// A `forward` action ran without any outbox configured for it.
public struct NoUpstreams: Error, Sendable, CustomStringConvertible {
    public var upstream: String
    public init(upstream: String) { self.upstream = upstream }
    public var description: String { "no upstream '\(upstream)' is configured" }
}
