import Testing
import WeirCore
import WeirRuleTesting
import WeirRules

/// Rule test cases with MQTT 5 properties on their given events.
@Suite struct PropertyCaseTests {
    @Test func givenEventsCarryUserPropertiesAndAContentType() async throws {
        let rules = try ruleSet(
            """
            name: north
            sql: SELECT device, user_property('rack') AS rack, content_type() AS type FROM "s/+" WHERE user_property('site') = 'north'
            actions: [ { forward: cloud } ]
            """)
        let results = try await runCases(
            """
            cases:
              - name: only the north site, with its rack
                given:
                  - { topic: s/a, payload: { device: d1 }, user_properties: { site: north, rack: "7" }, content_type: application/json }
                  - { topic: s/a, payload: { device: d2 }, user_properties: { site: south } }
                  - { topic: s/a, payload: { device: d3 } }
                  - { topic: s/a, payload: { device: d4 }, user_properties: { site: north }, content_type: text/plain }
                exactly: true
                expect:
                  - forward: { row: { device: d1, rack: "7", type: application/json } }
            """, rules: rules)
        #expect(results.map(\.passed) == [true], "\(results.flatMap(\.failures).map(\.message))")
    }

    @Test func aUserPropertyValueMustBeAString() throws {
        let rules = try ruleSet("name: r\nsql: SELECT * FROM \"s/+\"\nactions: [ { forward: cloud } ]\n")
        let error = #expect(throws: DiagnosticList.self) {
            try RuleTestParser.parse(
                "cases:\n  - name: c\n    given: [ { topic: s/a, user_properties: { site: [1] } } ]\n    expect_none: true\n",
                file: "t.test.yaml", rules: rules)
        }
        #expect(error?.description == "t.test.yaml:3:53: user property 'site' must be a string, found a list")
    }
}
