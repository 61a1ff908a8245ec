import Testing
import WeirCore

@testable import WeirRules

/// `format: json | text | binary`: what paths and `payload()` read, and what a payload that
/// does not fit its rule's format costs (only that rule's format).
@Suite struct PayloadFormatTests {
    func set(_ text: String) throws -> RuleSet {
        let (rules, errors) = RuleLoader.parse(text, file: "r.yaml")
        try #require(errors.isEmpty, "\(errors)")
        return RuleSet(rules: rules)
    }

    func process(_ rules: RuleSet, _ payload: [UInt8], topic: String = "s/a") -> EventOutcome {
        rules.process(Event(topic: topic, payload: payload, receivedAt: 1_700_000_000_000))
    }

    @Test func textRulesReadThePayloadAsAStringAndAPlainNumberAsValue() throws {
        let rules = try set(
            """
            rules:
              - name: t
                format: text
                sql: SELECT payload() AS raw, value, value * 2 AS twice FROM "s/#" WHERE value > 20
                actions: [ { log: {} } ]
            """)
        #expect(rules.rules[0].payloadFormat == .text)
        #expect(process(rules, Array("23.5".utf8)).matches.first?.row == ["raw": "23.5", "value": 23.5, "twice": 47.0])
        #expect(process(rules, Array(" 21\n".utf8)).matches.first?.row == ["raw": " 21\n", "value": 21, "twice": 42])
        #expect(process(rules, Array("19".utf8)).matches.isEmpty)
        // Text that is not a number is `value` as a string.
        let words = process(rules, Array("ON".utf8))
        #expect(words.matches.isEmpty)
        #expect(words.failures.map(\.error) == ["cannot compare string with int"])
        let invalid = process(rules, [0xFF, 0xFE])
        #expect(invalid.payloadErrorReason == "not_text")
        #expect(invalid.matches.isEmpty && invalid.failures.isEmpty)
    }

    @Test func binaryRulesDecodePackedFrames() throws {
        let rules = try set(
            """
            format: binary
            name: frame
            sql: >-
              SELECT uint16(payload(), 0) AS device, int16(payload(), 2) / 10.0 AS temp,
                     uint8(payload(), 4) AS battery, hex(payload()) AS raw
              FROM "s/#"
            actions: [ { log: {} } ]
            """)
        let outcome = process(rules, [0x00, 0x2A, 0xFF, 0x38, 0x64])
        #expect(outcome.matches.first?.row == ["device": 42, "temp": -20.0, "battery": 100, "raw": "002aff3864"])
        // A short frame fails the rule, and says where.
        #expect(process(rules, [0x00, 0x2A]).failures.map(\.error) == ["int16 at offset 2 reads past the end of 2 bytes"])
        // SELECT * of bytes is the bytes, written as base64.
        let star = try set(#"{ name: s, format: binary, sql: 'SELECT * FROM "s/#"', actions: [ { log: {} } ] }"#)
        let row = try #require(process(star, [1, 2, 3]).matches.first?.row)
        #expect(JSONWriter.string(.object(row)) == #"{"payload":"AQID"}"#)
    }

    @Test func aPayloadThatDoesNotFitOneFormatLeavesTheOthersRunning() throws {
        let rules = try set(
            """
            rules:
              - { name: j, sql: 'SELECT temp FROM "s/#"', actions: [ { log: {} } ] }
              - { name: t, format: text, sql: 'SELECT value FROM "s/#"', actions: [ { log: {} } ] }
              - { name: b, format: binary, sql: 'SELECT numbytes(payload()) AS n FROM "s/#"', actions: [ { log: {} } ] }
            """)
        let plain = process(rules, Array("23.5".utf8))
        #expect(plain.payloadErrors.map(\.reason) == [])
        // "23.5" is JSON too: a number, with no field temp.
        #expect(plain.matches.map(\.rule.name) == ["j", "t", "b"])
        let text = process(rules, Array("hello".utf8))
        #expect(text.payloadErrors.map(\.reason) == ["not_json"])
        #expect(text.matches.map(\.rule.name) == ["t", "b"])
        let bytes = process(rules, [0xC3, 0x28])
        #expect(bytes.payloadErrors.map(\.reason) == ["not_json", "not_text"])
        #expect(bytes.matches.map(\.rule.name) == ["b"])
        let empty = process(rules, [])
        #expect(empty.payloadErrors.map(\.reason) == ["empty"])
        #expect(empty.matches.map(\.row) == [["value": ""], ["n": 0]])
    }

    @Test func jsonRulesKeepTheirRangeIndexNextToOtherFormats() throws {
        // Eight rules on one path form a range group; a text rule on the same FROM and path
        // must not read the group's JSON value.
        var lines = ["rules:"]
        for i in 0..<8 {
            lines.append("  - { name: r\(i), sql: 'SELECT value FROM \"s/#\" WHERE value > \(i * 10)', actions: [ { log: {} } ] }")
        }
        lines.append("  - { name: t, format: text, sql: 'SELECT value FROM \"s/#\" WHERE value > 5', actions: [ { log: {} } ] }")
        let rules = try set(lines.joined(separator: "\n"))
        #expect(process(rules, Array(#"{"value": 25}"#.utf8)).matches.map(\.rule.name) == ["r0", "r1", "r2"])
        #expect(process(rules, Array("25".utf8)).matches.map(\.rule.name) == ["t"])
    }

    @Test func formatMustBeKnown() {
        let (_, errors) = RuleLoader.parse(
            #"{ name: x, format: csv, sql: 'SELECT * FROM "t"', actions: [ { log: {} } ] }"#, file: "r.yaml")
        #expect(errors.map(\.message) == ["'format' must be json, text or binary, found 'csv'"])
    }
}
