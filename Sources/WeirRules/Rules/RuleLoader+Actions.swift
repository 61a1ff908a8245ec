import WeirCore

extension RuleLoader {
    /// `checkColumns: false` for actions whose row is not the query's output (late events get the
    /// event's own payload).
    static func parseActions(_ node: YAMLNode, query: CompiledQuery, upstreams: Set<String>?, checkColumns: Bool = true) throws(Diagnostic) -> [ActionSpec] {
        let items = try node.sequence("'actions'")
        guard !items.isEmpty else { throw node.error("'actions' must list at least one action") }
        var actions: [ActionSpec] = []
        for item in items {
            let map = try item.mapping("an action")
            guard map.entries.count == 1, let entry = map.entries.first else {
                throw item.error("an action is a mapping with exactly one key (call, forward, log, publish)")
            }
            switch entry.key {
            case "publish": actions.append(try parsePublish(entry.value, query: query, checkColumns: checkColumns))
            case "log": actions.append(try parseLog(entry.value))
            case "forward":
                let upstream = try entry.value.string("'forward'")
                if let upstreams, !upstreams.contains(upstream) {
                    let known = upstreams.isEmpty ? "none configured" : upstreams.sorted().joined(separator: ", ")
                    throw entry.value.error("unknown upstream '\(upstream)' (upstreams: \(known))")
                }
                actions.append(.forward(upstream: upstream))
            case "call":
                actions.append(.call(function: try entry.value.string("'call'")))
            default:
                throw entry.keyNode.error("unknown action '\(entry.key)' (expected one of: call, forward, log, publish)")
            }
        }
        return actions
    }

    /// Where `call:` actions in an (already parsed) actions list name their functions.
    static func callSites(in node: YAMLNode) -> [CallSite] {
        guard let items = try? node.sequence("'actions'") else { return [] }
        return items.compactMap { item in
            guard let map = try? item.mapping("an action"), let entry = map.entries.first, entry.key == "call",
                let name = try? entry.value.string("'call'")
            else { return nil }
            return CallSite(function: name, location: entry.value.location)
        }
    }

    static func parsePublish(_ node: YAMLNode, query: CompiledQuery, checkColumns: Bool = true) throws(Diagnostic) -> ActionSpec {
        let map = try node.mapping("'publish'")
        try map.checkKeys(["topic", "qos", "retain"], in: "'publish'")
        let topicNode = try map.require("topic", in: "'publish'")
        let topicText = try topicNode.string("'topic'")
        let topic: Template
        do {
            topic = try Template(topicText)
        } catch {
            throw topicNode.error(error.message)
        }
        if topicText.contains("+") || topicText.contains("#") {
            throw topicNode.error("a publish topic cannot contain the wildcards '+' or '#'")
        }
        if !query.selectsStar && checkColumns {
            for column in topic.columns where !query.columnNames.contains(column) {
                let known = query.columnNames.joined(separator: ", ")
                throw topicNode.error("'${\(column)}' is not an output column of the rule (columns: \(known))")
            }
        }
        var qos = 0
        if let qosNode = map["qos"] {
            qos = try qosNode.int("'qos'")
            guard (0...2).contains(qos) else { throw qosNode.error("'qos' must be 0, 1 or 2") }
        }
        let retain = try map["retain"]?.bool("'retain'") ?? false
        return .publish(topic: topic, qos: qos, retain: retain)
    }

    static func parseLog(_ node: YAMLNode) throws(Diagnostic) -> ActionSpec {
        if node.isNull { return .log(level: .info) }
        let map = try node.mapping("'log'")
        try map.checkKeys(["level"], in: "'log'")
        guard let levelNode = map["level"] else { return .log(level: .info) }
        let text = try levelNode.string("'level'")
        guard let level = LogLevel(rawValue: text) else {
            let names = LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
            throw levelNode.error("unknown log level '\(text)' (expected one of: \(names))")
        }
        return .log(level: level)
    }
}
