import Testing
import WeirCore
import WeirRuleTesting
import WeirRules

/// Binary payloads in rule test files: `payload_hex` and `payload_base64`, bytes in rows matched
/// as the base64 the daemon writes, payloads that fit no format, and mistakes in the keys.
@Suite struct BinaryPayloadTests {
    static let rules = """
        rules:
          - { name: raw, format: binary, sql: 'SELECT *, uint8(payload(), 0) AS first FROM "b/+"', actions: [ { log: {} } ] }
          - { name: words, format: text, sql: 'SELECT value FROM "t/+"', actions: [ { log: {} } ] }
        """

    @Test func bytesInRowsMatchTheirBase64() async throws {
        let results = try await runCases(
            """
            cases:
              - name: hex and base64 give the same bytes
                given:
                  - { topic: b/1, payload_hex: "01 02 03" }
                  - { at: 1s, topic: b/1, payload_base64: AQID }
                exactly: true
                expect:
                  - log: { row: { payload: AQID, first: 1 }, at: 0s }
                  - log: { row: { payload: AQID, first: 1 }, at: 1s }
              - name: a text rule rejects bytes that are not UTF-8
                given:
                  - { topic: t/1, payload_hex: fffe }
                expect:
                  - invalid: { reason: not_text }
                expect_none:
                  - log: {}
            """, rules: try ruleSet(Self.rules))
        #expect(results.map(\.passed) == [true, true], "\(results.flatMap(\.failures).map(\.message))")
    }

    @Test func mistakesInBinaryPayloadsPointAtTheirPlace() throws {
        let rules = try ruleSet(Self.rules)
        func diagnostics(_ given: String) throws -> [String] {
            do {
                _ = try RuleTestParser.parse(
                    "cases:\n  - name: a\n    given: [ \(given) ]\n    expect: [ { log: {} } ]", file: "x.test.yaml", rules: rules)
                return []
            } catch {
                return error.diagnostics.map(\.description)
            }
        }
        let hex = try diagnostics("{ topic: b/1, payload_hex: 0g }")
        #expect(hex == ["x.test.yaml:3:41: 'payload_hex' is not hex: '0g'"], "\(hex)")
        let base64 = try diagnostics("{ topic: b/1, payload_base64: '*' }")
        #expect(base64 == ["x.test.yaml:3:44: 'payload_base64' is not base64: '*'"], "\(base64)")
        let both = try diagnostics("{ topic: b/1, payload: 1, payload_hex: '00' }")
        #expect(both == ["x.test.yaml:3:53: a 'given' event has one of 'payload', 'payload_hex' and 'payload_base64'"], "\(both)")
    }
}
