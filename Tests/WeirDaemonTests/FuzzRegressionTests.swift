import Testing
import WeirCore

@testable import WeirDaemon

/// Configuration inputs the fuzz harnesses (Fuzz/, docs/fuzzing.md) found crashing: each must be an
/// error, not a crash.
@Suite struct ConfigFuzzRegressionTests {
    /// Deeply nested YAML: Yams composed nodes recursively (before issue 12), and overflowed the stack at about 10,000
    /// levels in a release build (`weir check`; Fuzz/regressions/config/yaml-nesting-8000).
    @Test func deeplyNestedConfigurationIsAnError() {
        let depth = 100_000
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: Diagnostic.self) { try ConfigLoader.parse(nested, file: "w.yaml") }
        #expect(throws: Diagnostic.self) { try ConfigLoader.parse("mqtt: " + nested, file: "w.yaml") }
    }
}
