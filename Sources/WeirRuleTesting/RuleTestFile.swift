import WeirCore
import WeirRules

/// A rule test file (`*.test.yaml`): cases that feed events to the rules on a virtual clock and
/// say what must, and must not, happen.
public struct RuleTestFile: Sendable {
    public var path: String
    public var cases: [RuleTestCase]
}

/// One case: events at virtual times, stubbed functions, and the expected happenings.
public struct RuleTestCase: Sendable {
    public var name: String
    public var location: SourceLocation
    /// Virtual time zero (ms since epoch): `start:`, default 2026-01-01T00:00:00Z.
    public var start: Int64
    public var given: [GivenEvent]
    /// How far the clock runs (ms after `start`): `until:`, default the last event's `at`.
    public var until: Int64
    /// Functions whose result is replaced, by name (the file's `stub:` and the case's).
    public var stubs: [String: FunctionStub]
    public var expect: [Expectation]
    public var expectNone: [Expectation]
    /// The `expect` list is complete: every action that ran must be in it.
    public var exactly: Bool
    /// `rules:`: the only rules (and scheduled rules) that run in the case; nil runs them all.
    public var only: Set<String>?
}

/// One event of a case's `given:` list.
public struct GivenEvent: Sendable {
    /// When it arrives, in ms after the case's start.
    public var at: Int64
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    /// MQTT 5 user properties and content type (`user_properties:`, `content_type:`), or nil.
    public var properties: MessageProperties?
    public var location: SourceLocation
}

/// What a stubbed function returns instead of running: its outputs (each one, with `emit`,
/// becomes an event), or a failure.
public struct FunctionStub: Sendable {
    public var outputs: [JSONValue]
    public var error: String?
    public var location: SourceLocation
}

/// One item of `expect:` or `expect_none:`: a kind of happening and the fields it must have.
public struct Expectation: Sendable {
    public var kind: HappeningKind
    /// Expected fields; rows and payloads match as subsets (see `Matcher`).
    public var fields: JSONObject
    /// `at:` (ms after the start), when the item pins the time.
    public var at: Int64?
    public var location: SourceLocation

    /// The item as written, for messages: `publish {"topic":"alerts/a"}`.
    public var description: String {
        var shown = fields
        if let at { shown["at"] = .string(formatOffset(at)) }
        return "\(kind.rawValue) \(JSONValue.object(shown))"
    }
}

/// What a case can observe.
public enum HappeningKind: String, Sendable, CaseIterable {
    /// A rule's actions.
    case publish, forward, log, call
    /// A function's output that became an event (`emit`).
    case emit
    /// An invocation that failed its last attempt, or a publish whose topic was refused.
    case deadLetter = "dead_letter"
    /// An event-time event that arrived after its windows closed.
    case late
    /// A payload no rule could read (not JSON, too large).
    case invalid
    /// A rule that failed on an event (a type error), or a chain stopped by the hop limit.
    case error

    /// The fields an expectation of this kind may name (besides `at`).
    var fields: Set<String> {
        switch self {
        case .publish: return ["topic", "payload", "qos", "retain", "rule"]
        case .forward: return ["upstream", "row", "priority", "rule"]
        case .log: return ["level", "row", "rule"]
        case .call: return ["function", "row", "output", "error", "rule"]
        case .emit: return ["function", "topic", "payload"]
        case .deadLetter: return ["kind", "function", "rule", "row", "error"]
        case .late: return ["rule", "row"]
        case .invalid: return ["topic", "reason", "error"]
        case .error: return ["rule", "message"]
        }
    }

    /// Actions: what `exactly: true` makes complete.
    var isAction: Bool { self == .publish || self == .forward || self == .log || self == .call }
}

/// A time offset as written in test files: `0s`, `1.5s`, `10m`, `61d`.
public func formatOffset(_ millis: Int64) -> String {
    let units: [(Int64, String)] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")]
    for (size, suffix) in units where millis != 0 && millis % size == 0 { return "\(millis / size)\(suffix)" }
    if millis == 0 { return "0s" }
    if millis % 100 == 0, abs(millis) >= 1000 { return "\(Double(millis) / 1000)s" }
    return "\(millis)ms"
}
