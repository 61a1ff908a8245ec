import Testing
import WeirCore

@testable import WeirRules

/// MQTT 5 properties in SQL (`user_property`, `content_type`) and in the payload checks.
@Suite struct MessagePropertyTests {
    let properties = MessageProperties(
        user: [
            UserProperty(name: "site", value: "north"), UserProperty(name: "site", value: "south"), UserProperty(name: "rack", value: "7"),
        ],
        contentType: "application/json; charset=utf-8")

    func rule(_ name: String, _ sql: String) throws -> Rule {
        Rule(
            name: name, sql: sql, query: try CompiledQuery(sql: sql), actions: [],
            location: SourceLocation(file: "r.yaml", line: 1, column: 1))
    }

    func value(_ expression: String, properties: MessageProperties?) throws -> JSONValue {
        let query = try CompiledQuery(sql: "SELECT \(expression) AS v FROM \"#\"")
        let context = EvaluationContext(payload: ["a": 1], topic: "t", qos: 1, timestamp: 0, properties: properties)
        return try query.evaluate(context)?["v"] ?? .null
    }

    @Test func userPropertyReadsTheFirstValueOfANameAndNullWhenAbsent() throws {
        #expect(try value("user_property('site')", properties: properties) == "north")
        #expect(try value("user_property('rack')", properties: properties) == "7")
        #expect(try value("user_property('nope')", properties: properties) == .null)
        #expect(try value("user_property('site')", properties: nil) == .null, "MQTT 3.1.1: no properties")
        #expect(try value("user_property()", properties: properties) == ["site": "north", "rack": "7"])
        #expect(try value("user_property()", properties: nil) == [:])
        #expect(try value("content_type()", properties: properties) == "application/json; charset=utf-8")
        #expect(try value("content_type()", properties: nil) == .null)
        #expect(try value("upper(user_property('site'))", properties: properties) == "NORTH")
    }

    @Test func theFunctionsTakeTheirArgumentCounts() {
        #expect(throws: SQLError.self) { try CompiledQuery(sql: ##"SELECT content_type('x') FROM "#""##) }
        #expect(throws: SQLError.self) { try CompiledQuery(sql: ##"SELECT user_property('a', 'b') FROM "#""##) }
    }

    @Test func aWhereClauseCanTestAUserProperty() throws {
        let rules = RuleSet(rules: [try rule("north", #"SELECT * FROM "s/#" WHERE user_property('site') = 'north'"#)])
        var event = Event(topic: "s/1", payload: Array(#"{"t":1}"#.utf8), receivedAt: 0)
        #expect(rules.process(event).matches.isEmpty)
        event.properties = MessageProperties(user: [UserProperty(name: "site", value: "north")])
        let outcome = rules.process(event)
        #expect(outcome.matches.count == 1)
        #expect(outcome.matches.first?.row == ["t": 1], "SELECT * is the payload only, never the properties")
    }

    @Test func aContentTypeThatIsNotJSONOrDoesNotFitThePayloadIsInvalid() throws {
        let rules = RuleSet(rules: [try rule("all", #"SELECT * FROM "s/#""#)])
        func reason(_ payload: String, _ contentType: String?) -> String? {
            var event = Event(topic: "s/1", payload: Array(payload.utf8), receivedAt: 0)
            event.properties = MessageProperties(contentType: contentType)
            return rules.process(event).payloadErrorReason
        }
        #expect(reason(#"{"a":1}"#, "application/json") == nil)
        #expect(reason(#"{"a":1}"#, "application/vnd.acme+json") == nil)
        #expect(reason(#"{"a":1}"#, "Application/JSON; charset=utf-8") == nil)
        #expect(reason(#"{"a":1}"#, "text/plain") == "content_type")
        #expect(reason("not json", "application/json") == "content_type")
        #expect(reason("not json", nil) == "not_json")
    }

    @Test func expiryCountsFromWhenWeirReceivedTheMessage() {
        var event = Event(topic: "t", payload: [], receivedAt: 0, receivedNanos: 1_000_000_000)
        #expect(!event.isExpired(atNanos: 100_000_000_000), "no expiry property: never")
        event.properties = MessageProperties(expirySeconds: 2)
        #expect(!event.isExpired(atNanos: 2_900_000_000))
        #expect(event.isExpired(atNanos: 3_000_000_000))
    }
}
