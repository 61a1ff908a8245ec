import Testing

@testable import WeirDaemon

/// `dead_letters:` in weir.yaml: defaults, sizes and counts, `none`, and located errors.
@Suite struct DeadLetterConfigTests {
    @Test func defaultsAreTwoHundredFiftySixMiBAndOneHundredThousandLetters() throws {
        let config = try ConfigLoader.parse("gateway_id: gw\n", file: "w.yaml")
        #expect(config.deadLetters.maxBytes == 256 << 20)
        #expect(config.deadLetters.maxCount == 100_000)
    }

    @Test func sizesCountsAndNoneParse() throws {
        let config = try ConfigLoader.parse("dead_letters: { max_bytes: 64MiB, max_count: 500 }\n", file: "w.yaml")
        #expect(config.deadLetters.maxBytes == 64 << 20)
        #expect(config.deadLetters.maxCount == 500)
        let partial = try ConfigLoader.parse("dead_letters:\n  max_count: none\n", file: "w.yaml")
        #expect(partial.deadLetters.maxCount == nil)
        #expect(partial.deadLetters.maxBytes == 256 << 20, "a key left out keeps its default")
    }

    @Test func mistakesAreErrorsAtTheirPosition() {
        let unknown = configError("dead_letters:\n  max_letters: 5\n")
        #expect(unknown?.hasPrefix("w.yaml:2:3: unknown key 'max_letters' in 'dead_letters'") == true, "\(unknown ?? "")")
        #expect(configError("dead_letters: { max_bytes: lots }\n")?.contains("'max_bytes' must be a size") == true)
        #expect(configError("dead_letters: { max_count: 0 }\n")?.contains("'max_count' must be between 1 and") == true)
        #expect(configError("dead_letters: { max_bytes: 0 }\n")?.contains("'max_bytes' must be more than 0") == true)
        #expect(configError("dead_letters: 5\n")?.contains("'dead_letters' must be a mapping") == true)
    }
}
