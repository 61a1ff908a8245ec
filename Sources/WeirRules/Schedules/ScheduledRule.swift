import WeirCore

/// A rule triggered by time instead of events: `schedule:` in place of `sql:`. Its actions get
/// the row `{"scheduled_at": "<RFC 3339>", "schedule": "<as written>"}`.
public struct ScheduledRule: Sendable {
    public let name: String
    public let schedule: Schedule
    public let actions: [ActionSpec]
    public let location: SourceLocation
    public let enabled: Bool
    public var callSites: [CallSite] = []

    public init(name: String, schedule: Schedule, actions: [ActionSpec], location: SourceLocation, enabled: Bool = true) {
        self.name = name
        self.schedule = schedule
        self.actions = actions
        self.location = location
        self.enabled = enabled
    }

    /// The columns a scheduled rule's row has.
    public static let columns = ["scheduled_at", "schedule"]

    /// The row for the run due at `time` (ms since epoch).
    public func row(for time: Int64) -> JSONObject {
        ["scheduled_at": .string(rfc3339(millis: time)), "schedule": .string(schedule.description)]
    }
}

extension RuleLoader {
    static let scheduledRuleKeys: Set<String> = ["name", "schedule", "actions", "description", "enabled"]

    static func parseScheduledRule(_ node: YAMLNode, lines: [Substring], upstreams: Set<String>?) throws(Diagnostic) -> ScheduledRule {
        let map = try node.mapping("a rule")
        if map["sql"] != nil {
            throw try map.require("schedule", in: "a rule").error(
                "a rule has either 'sql' (triggered by events) or 'schedule' (triggered by time), not both")
        }
        try map.checkKeys(scheduledRuleKeys, in: "a scheduled rule")
        let name = try parseName(map, "rule")
        let scheduleNode = try map.require("schedule", in: "rule '\(name)'")
        let text = try scheduleNode.string("'schedule'")
        let schedule: Schedule
        do {
            schedule = try Schedule(parsing: text)
        } catch {
            throw Diagnostic(ScalarPosition.locate(byteOffset: error.offset, in: text, node: scheduleNode, lines: lines), error.message)
        }
        if case .cron(let expression) = schedule, expression.next(after: 0) == nil {
            throw scheduleNode.error("schedule '\(text)' never matches (no such day in any month or year)")
        }
        let enabled = try map["enabled"]?.bool("'enabled'") ?? true
        let actionsNode = try map.require("actions", in: "rule '\(name)'")
        let actions = try parseActions(actionsNode, columns: ScheduledRule.columns, upstreams: upstreams)
        var rule = ScheduledRule(name: name, schedule: schedule, actions: actions, location: node.location, enabled: enabled)
        rule.callSites = callSites(in: actionsNode)
        return rule
    }
}
