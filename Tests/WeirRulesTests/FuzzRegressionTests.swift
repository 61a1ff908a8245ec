import Testing
import WeirCore
import WeirRules

/// Inputs the fuzz harnesses (Fuzz/, docs/fuzzing.md) found crashing: each must be an error, not a
/// crash. The reproducers are under Fuzz/regressions/; these are larger, so that they overflow the
/// stack of a release build without sanitizers too.
@Suite struct FuzzRegressionTests {
    /// Deeply nested YAML (`[[[[…`): Yams composed nodes recursively (before issue 12), and overflowed the stack at
    /// about 6,000 levels in a release build (Fuzz/regressions/rules/yaml-nesting-8000).
    @Test func deeplyNestedRuleFileIsAnError() {
        let depth = 100_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(!RuleLoader.parseFile(text, file: "deep.yaml").diagnostics.isEmpty)
        #expect(throws: Diagnostic.self) { try YAMLFile.documents(text, file: "deep.yaml") }
    }

    /// A long chain of binary operators (`x AND x AND …`, `x + x + …`) parses into a left-deep tree
    /// that the compiler walked recursively: about 50,000 terms (300 KB of SQL) overflowed the stack
    /// in a release build (Fuzz/regressions/sql/binary-chain-12000).
    @Test func longOperatorChainIsAnError() {
        let terms = repeatElement("x", count: 200_000)
        #expect(throws: SQLError.self) { try CompiledQuery(sql: "SELECT x FROM \"t\" WHERE " + terms.joined(separator: " AND ")) }
        #expect(throws: SQLError.self) { try CompiledQuery(sql: "SELECT " + terms.joined(separator: "+") + " FROM \"t\"") }
    }

    /// Unary plus signs (`+ + + … x`): `parseUnary` recursed once per sign, outside the parser's
    /// nesting bound; a million overflowed the stack in a release build
    /// (Fuzz/regressions/sql/unary-plus-90000).
    @Test func longUnaryChainIsAnError() {
        #expect(throws: SQLError.self) { try CompiledQuery(sql: "SELECT " + String(repeating: "+", count: 1_000_000) + "x FROM \"t\"") }
    }

    /// Saved window state with impossible values (a count at `Int64.max`, a session's last event at
    /// `Int64.min`) restored, then an event added: the count's `n + 1` (Aggregate.swift) and the
    /// session's `time - group.lastEvent` (WindowOperator.swift) trapped on overflow
    /// (Fuzz/regressions/window-state/). Either `restore` refuses the state or `add` is an error.
    @Test(arguments: [
        #"{"start":1796169600000,"end":1796169600000,"keys":["d1"],"states":[["c",9223372036854775807]],"#
            + #""buffer":[],"events":1,"last":1796169600000}"#,
        #"{"start":1796169600000,"end":1796169600000,"keys":["d1"],"states":[["c",1]],"buffer":[],"events":1,"#
            + #""last":-9223372036854775808}"#,
    ])
    func impossibleWindowStateIsAnError(_ state: String) throws {
        let now: Int64 = 1_796_169_600_000
        for window in ["COUNT(3)", "SESSION(5m, 8h)"] {
            let query = try CompiledQuery(sql: "SELECT device, count(*) FROM \"s/+/t\" GROUP BY device, \(window)")
            var windows = WindowOperator(query: try #require(query.grouping))
            let storeKey = window.hasPrefix("COUNT") ? "*|[\"d1\"]" : "\(now)|[\"d1\"]"
            guard windows.restore(storeKey: storeKey, json: try JSONParser.parse(state)) else { continue }
            #expect(throws: EvaluationError.self) { _ = try windows.add(keys: ["d1"], values: [nil], time: now + 1_000, now: now + 1_000) }
        }
    }
}
