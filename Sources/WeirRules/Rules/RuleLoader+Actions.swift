import WeirCore

extension RuleLoader {
    /// `checkColumns: false` for actions whose row is not the query's output (late events get the
    /// event's own payload).
    static func parseActions(_ node: YAMLNode, query: CompiledQuery, upstreams: Set<String>?, checkColumns: Bool = true) throws(Diagnostic)
        -> [ActionSpec]
    {
        try parseActions(node, columns: query.selectsStar || !checkColumns ? nil : query.columnNames, upstreams: upstreams)
    }

    /// - Parameter columns: the columns of the rows the actions get, for checking templates; nil
    ///   when they are not known in advance.
    static func parseActions(_ node: YAMLNode, columns: [String]?, upstreams: Set<String>?) throws(Diagnostic) -> [ActionSpec] {
        let items = try node.sequence("'actions'")
        guard !items.isEmpty else { throw node.error("'actions' must list at least one action") }
        var actions: [ActionSpec] = []
        for item in items {
            let map = try item.mapping("an action")
            guard map.entries.count == 1, let entry = map.entries.first else {
                throw item.error("an action is a mapping with exactly one key (call, forward, log, publish)")
            }
            switch entry.key {
            case "publish": actions.append(try parsePublish(entry.value, columns: columns))
            case "log": actions.append(try parseLog(entry.value))
            case "forward": actions.append(try parseForward(entry.value, upstreams: upstreams))
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

    /// `forward: cloud`, or `forward: { upstream: cloud, priority: high }`.
    static func parseForward(_ node: YAMLNode, upstreams: Set<String>?) throws(Diagnostic) -> ActionSpec {
        var upstreamNode = node
        var priority = OutboxPriority.normal
        if node.node.kind == .mapping {
            let map = try node.mapping("'forward'")
            try map.checkKeys(["upstream", "priority"], in: "'forward'")
            upstreamNode = try map.require("upstream", in: "'forward'")
            if let priorityNode = map["priority"] {
                let name = try priorityNode.string("'priority'")
                guard let parsed = OutboxPriority(name: name) else {
                    throw priorityNode.error("'priority' must be high, normal or low, found '\(name)'")
                }
                priority = parsed
            }
        }
        let upstream = try upstreamNode.string("'forward'")
        if let upstreams, !upstreams.contains(upstream) {
            let known = upstreams.isEmpty ? "none configured" : upstreams.sorted().joined(separator: ", ")
            throw upstreamNode.error("unknown upstream '\(upstream)' (upstreams: \(known))")
        }
        return .forward(upstream: upstream, priority: priority)
    }

    static func parsePublish(_ node: YAMLNode, columns: [String]?) throws(Diagnostic) -> ActionSpec {
        let map = try node.mapping("'publish'")
        try map.checkKeys(["topic", "qos", "retain"], in: "'publish'")
        let topicNode = try map.require("topic", in: "'publish'")
        let topic = try parseTopicTemplate(topicNode, "a publish topic")
        if let columns {
            for column in topic.columns where !columns.contains(column) {
                let known = columns.joined(separator: ", ")
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

    /// A topic name with `${column}` placeholders; wildcards are refused (it is published to).
    static func parseTopicTemplate(_ node: YAMLNode, _ what: String) throws(Diagnostic) -> Template {
        let text = try node.string("'topic'")
        let template: Template
        do {
            template = try Template(text)
        } catch {
            throw node.error(error.message)
        }
        if text.contains("+") || text.contains("#") {
            throw node.error("\(what) cannot contain the wildcards '+' or '#'")
        }
        return template
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
