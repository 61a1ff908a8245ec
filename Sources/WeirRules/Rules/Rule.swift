import WeirCore

/// A compiled rule: which events it selects (SQL) and what runs for each output row.
public struct Rule: Sendable {
    public let name: String
    public let sql: String
    public let query: CompiledQuery
    public let actions: [ActionSpec]
    /// Where the rule is defined, for logs and diagnostics.
    public let location: SourceLocation
    /// A disabled rule is validated but neither subscribes nor matches.
    public let enabled: Bool
    /// For windowed rules: processing time, or event time from a payload field.
    public let timeMode: TimeMode
    /// For grouped rules: open groups beyond this are dropped and counted.
    public let maxGroups: Int
    /// For grouped rules: open groups kept in memory; the least recently updated others wait in
    /// the store until their next event or their window's close.
    public let maxGroupsInMemory: Int
    /// For event-time rules: what runs for an event that arrives after its window closed (the row
    /// is the event's payload). Empty: late events are only counted.
    public let lateActions: [ActionSpec]
    /// For rules with stateful functions (`changed`, `lag`, …): partitions remembered at most; past
    /// this the least recently seen are forgotten, and counted.
    public var maxPartitions = 100_000
    /// Where the rule's `call:` actions name functions (checked against the declared ones).
    public var callSites: [CallSite] = []
    /// How the rule reads payloads (`format:`): JSON unless the rule file says text or binary.
    public var payloadFormat: PayloadFormat = .json

    public init(
        name: String, sql: String, query: CompiledQuery, actions: [ActionSpec], location: SourceLocation, enabled: Bool = true,
        timeMode: TimeMode = .processing, maxGroups: Int = 100_000, maxGroupsInMemory: Int = 10_000, lateActions: [ActionSpec] = []
    ) {
        self.lateActions = lateActions
        self.maxGroupsInMemory = maxGroupsInMemory
        self.enabled = enabled
        self.timeMode = timeMode
        self.maxGroups = maxGroups
        self.name = name
        self.sql = sql
        self.query = query
        self.actions = actions
        self.location = location
    }
}

/// Severity for the `log` action; the daemon maps it onto its logger.
public enum LogLevel: String, Sendable, CaseIterable {
    case debug, info, notice, warning, error
}

/// What a rule does with each output row. Every action is a function invoked in the bounded pool.
public enum ActionSpec: Sendable, Equatable {
    /// Publish the row as JSON to the local broker.
    case publish(topic: Template, qos: Int, retain: Bool)
    /// Write the row to the log (journald under systemd).
    case log(level: LogLevel)
    /// Append the row to the durable outbox of an upstream, in a priority class; done once it is durable.
    case forward(upstream: String, priority: OutboxPriority = .normal)
    /// Invoke a declared function with the row (retried, then dead-lettered).
    case call(function: String)

    /// The action's kind as written in rule files, for metrics labels.
    public var kind: String {
        switch self {
        case .publish: return "publish"
        case .log: return "log"
        case .forward: return "forward"
        case .call: return "call"
        }
    }
}
