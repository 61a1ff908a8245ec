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
}
