import WeirCore
import WeirRules

/// Reads rule test files. Every problem is a diagnostic at its `path:line:col`, as in rule files,
/// so `weir check` reports broken tests like broken rules.
public enum RuleTestParser {
    /// Virtual time zero unless a file or case says otherwise.
    public static let defaultStart: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

    static let fileKeys: Set<String> = ["cases", "start", "stub", "rules", "description"]
    static let caseKeys: Set<String> = [
        "name", "description", "start", "given", "until", "stub", "rules", "expect", "expect_none", "exactly",
    ]
    static let givenKeys: Set<String> = [
        "at", "topic", "payload", "payload_hex", "payload_base64", "qos", "user_properties", "content_type",
    ]
    static let stubKeys: Set<String> = ["output", "error"]

    /// Parses a test file, checking what it names against `rules`: stubbed functions must be
    /// declared, and an expectation's `rule` must exist.
    public static func parse(_ text: String, file: String, rules: RuleSet) throws(DiagnosticList) -> RuleTestFile {
        let documents: [YAMLNode]
        do {
            documents = try YAMLFile.documents(text, file: file)
        } catch {
            throw DiagnosticList([error])
        }
        guard documents.count == 1, let root = documents.first else {
            let location = documents.dropFirst().first?.location ?? SourceLocation(file: file, line: 1, column: 1)
            throw DiagnosticList([Diagnostic(location, "a rule test file holds one YAML document with a 'cases:' list")])
        }
        var diagnostics: [Diagnostic] = []
        var cases: [RuleTestCase] = []
        do throws(Diagnostic) {
            let map = try root.mapping("a rule test file")
            try map.checkKeys(fileKeys, in: "a rule test file")
            let start = try map["start"].map(parseStart) ?? defaultStart
            let stubs = try map["stub"].map { node throws(Diagnostic) in try parseStubs(node, rules: rules) } ?? [:]
            let only = try map["rules"].map { node throws(Diagnostic) in try parseRuleNames(node, rules: rules) }
            let list = try map.require("cases", in: "a rule test file").sequence("'cases'")
            if list.isEmpty { throw try map.require("cases", in: "a rule test file").error("'cases' is empty: a test file needs a case") }
            var names: [String: SourceLocation] = [:]
            for node in list {
                do throws(Diagnostic) {
                    let parsed = try parseCase(node, start: start, stubs: stubs, only: only, rules: rules)
                    if let first = names[parsed.name] {
                        throw node.error("duplicate case name '\(parsed.name)' (first at \(first))")
                    }
                    names[parsed.name] = parsed.location
                    cases.append(parsed)
                } catch {
                    diagnostics.append(error)
                }
            }
        } catch {
            diagnostics.append(error)
        }
        guard diagnostics.isEmpty else { throw DiagnosticList(diagnostics) }
        return RuleTestFile(path: file, cases: cases)
    }

    static func parseCase(
        _ node: YAMLNode, start fileStart: Int64, stubs fileStubs: [String: FunctionStub], only fileOnly: Set<String>?, rules: RuleSet
    ) throws(Diagnostic) -> RuleTestCase {
        let map = try node.mapping("a case")
        try map.checkKeys(caseKeys, in: "a case")
        let name = try map.require("name", in: "a case").string("'name'")
        let start = try map["start"].map(parseStart) ?? fileStart
        var given: [GivenEvent] = []
        for item in try map["given"]?.sequence("'given'") ?? [] { given.append(try parseGiven(item)) }
        // Events at the same time keep their written order.
        given = given.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
        let last = given.last?.at ?? 0
        var until = last
        if let node = map["until"] {
            until = try parseOffset(node, "'until'")
            guard until >= last else {
                throw node.error("'until' (\(formatOffset(until))) is before the last event (at \(formatOffset(last)))")
            }
        }
        var stubs = fileStubs
        if let node = map["stub"] { stubs.merge(try parseStubs(node, rules: rules)) { $1 } }
        let expect = try parseExpectations(map["expect"], "'expect'", rules: rules)
        let expectNone = try parseExpectations(map["expect_none"], "'expect_none'", rules: rules)
        if given.isEmpty, map["until"] == nil {
            throw node.error("case '\(name)' has no 'given' events and no 'until': nothing would happen")
        }
        if expect.isEmpty, expectNone.isEmpty, try map["exactly"]?.bool("'exactly'") != true {
            throw node.error("case '\(name)' expects nothing: add 'expect', 'expect_none', or 'exactly: true' with no 'expect'")
        }
        return RuleTestCase(
            name: name, location: node.location, start: start, given: given, until: until, stubs: stubs, expect: expect,
            expectNone: expectNone, exactly: try map["exactly"]?.bool("'exactly'") ?? false,
            only: try map["rules"].map { node throws(Diagnostic) in try parseRuleNames(node, rules: rules) } ?? fileOnly)
    }

    static func parseGiven(_ node: YAMLNode) throws(Diagnostic) -> GivenEvent {
        let map = try node.mapping("a 'given' event")
        try map.checkKeys(givenKeys, in: "a 'given' event")
        let topicNode = try map.require("topic", in: "a 'given' event")
        let topic = try topicNode.string("'topic'")
        guard !topic.isEmpty, !topic.contains("+"), !topic.contains("#"), !topic.utf8.contains(0) else {
            throw topicNode.error("'topic' must be a topic name (no wildcards), found '\(topic)'")
        }
        var payload: [UInt8] = []
        if let node = map["payload"] {
            // A string is the payload's text as it is (not JSON, a plain number, or raw JSON); anything
            // else is written as JSON.
            if node.node.kind == .scalar, !node.isNull, node.scalarStyle != .plain {
                payload = Array(try node.string("'payload'").utf8)
            } else {
                payload = JSONWriter.bytes(try node.json())
            }
        }
        // Binary payloads (a `format: binary` rule's packed frames) are written as hex or base64.
        let encoded = [("payload_hex", ByteText.hex), ("payload_base64", ByteText.base64)].filter { map[$0.0] != nil }
        if let (key, encoding) = encoded.first {
            let node = map[key]!
            guard map["payload"] == nil, encoded.count == 1 else {
                throw node.error("a 'given' event has one of 'payload', 'payload_hex' and 'payload_base64'")
            }
            let text = try node.string("'\(key)'")
            guard let bytes = encoding == .hex ? Hex.decode(text) : Base64.decode(text) else {
                throw node.error("'\(key)' is not \(encoding == .hex ? "hex" : "base64"): '\(text)'")
            }
            payload = bytes
        }
        let qos = try map["qos"]?.int("'qos'") ?? 0
        guard (0...2).contains(qos) else { throw map["qos"]!.error("'qos' must be 0, 1 or 2, found \(qos)") }
        // MQTT 5 properties, for rules that read user_property() or content_type().
        var properties = MessageProperties()
        for entry in try map["user_properties"]?.mapping("'user_properties'").entries ?? [] {
            properties.user.append(UserProperty(name: entry.key, value: try entry.value.string("user property '\(entry.key)'")))
        }
        properties.contentType = try map["content_type"]?.string("'content_type'")
        return GivenEvent(
            at: try map["at"].map { node throws(Diagnostic) in try parseOffset(node, "'at'") } ?? 0, topic: topic, payload: payload,
            qos: qos, properties: properties == MessageProperties() ? nil : properties, location: node.location)
    }

    static func parseStubs(_ node: YAMLNode, rules: RuleSet) throws(Diagnostic) -> [String: FunctionStub] {
        var stubs: [String: FunctionStub] = [:]
        for entry in try node.mapping("'stub'").entries {
            guard rules.functions[entry.key] != nil else {
                let known = rules.functions.keys.sorted().joined(separator: ", ")
                throw entry.keyNode.error(
                    "stub for unknown function '\(entry.key)' (functions: \(known.isEmpty ? "none declared" : known))")
            }
            let map = try entry.value.mapping("a stub")
            try map.checkKeys(stubKeys, in: "a stub")
            let error = try map["error"]?.string("'error'")
            var outputs: [JSONValue] = []
            if let output = map["output"] {
                if error != nil { throw output.error("a stub has 'output' or 'error', not both") }
                // A list is several outputs, one event each with `emit`.
                if case .array(let items) = try output.json() { outputs = items } else { outputs = [try output.json()] }
            }
            stubs[entry.key] = FunctionStub(outputs: outputs, error: error, location: entry.value.location)
        }
        return stubs
    }

    static func parseExpectations(_ node: YAMLNode?, _ what: String, rules: RuleSet) throws(Diagnostic) -> [Expectation] {
        guard let node else { return [] }
        var expectations: [Expectation] = []
        for item in try node.sequence(what) {
            let map = try item.mapping("an item of \(what)")
            let kinds = HappeningKind.allCases.map(\.rawValue)
            guard map.entries.count == 1, let entry = map.entries.first, let kind = HappeningKind(rawValue: entry.key) else {
                throw item.error("an item of \(what) is one of \(kinds.joined(separator: ", ")), as '- publish: { topic: … }'")
            }
            var fields = JSONObject()
            var at: Int64?
            if !entry.value.isNull {
                let body = try entry.value.mapping("'\(kind.rawValue)'")
                try body.checkKeys(kind.fields.union(["at"]), in: "'\(kind.rawValue)'")
                for field in body.entries {
                    if field.key == "at" {
                        at = try parseOffset(field.value, "'at'")
                    } else {
                        fields[field.key] = try field.value.json()
                    }
                }
            }
            if case .string(let rule)? = fields["rule"], rules.rule(named: rule) == nil,
                !rules.schedules.contains(where: { $0.name == rule })
            {
                throw item.error("no rule named '\(rule)'")
            }
            expectations.append(Expectation(kind: kind, fields: fields, at: at, location: item.location))
        }
        return expectations
    }

    /// `rules: [a, b]`: names of rules or scheduled rules, each defined.
    static func parseRuleNames(_ node: YAMLNode, rules: RuleSet) throws(Diagnostic) -> Set<String> {
        var names: Set<String> = []
        for item in try node.sequence("'rules'") {
            let name = try item.string("a rule name")
            guard rules.rule(named: name) != nil || rules.schedules.contains(where: { $0.name == name }) else {
                throw item.error("no rule named '\(name)'")
            }
            names.insert(name)
        }
        return names
    }

    static func parseStart(_ node: YAMLNode) throws(Diagnostic) -> Int64 {
        let text = try node.string("'start'")
        guard let millis = parseRFC3339(text) else { throw node.error("'start' must be an RFC 3339 time such as 2026-01-01T00:00:00Z") }
        return millis
    }

    /// A time after the start: a duration (`0s`, `1.5s`, `61d`), or `0`.
    static func parseOffset(_ node: YAMLNode, _ what: String) throws(Diagnostic) -> Int64 {
        let text = try node.string(what)
        if text == "0" { return 0 }
        guard let duration = parseDuration(text) else { throw node.error("\(what) must be a duration such as 10s or 61d, found '\(text)'") }
        return duration.milliseconds
    }
}

/// How a given event's binary payload is written in a test file.
enum ByteText {
    case hex, base64
}
