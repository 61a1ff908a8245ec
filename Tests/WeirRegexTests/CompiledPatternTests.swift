import Testing

@testable import WeirRegex

@Suite struct CompiledPatternTests {
    @Test func matchesAndReplacesLikeTheRulesDocumentIt() throws {
        #expect(try CompiledPattern("^dev-[0-9]+$").matches("dev-0042"))
        #expect(try !CompiledPattern("^dev").matches("x"))
        #expect(try CompiledPattern(#"^\d{3}\.\w+$"#).matches("123.ab_c"))
        #expect(try CompiledPattern("é+").matches("cafééé"), "UTF-8 aware")
        #expect(try CompiledPattern("[0-9]+").replacingMatches(in: "a1b22", with: "#") == "a#b#")
        #expect(try CompiledPattern("b").replacingMatches(in: "abc", with: "$1\\") == "a$1\\c", "the replacement is literal")
        #expect(try CompiledPattern("x").replacingMatches(in: "abc", with: "y") == "abc")
        let long = String(repeating: "ab", count: 5_000)
        #expect(try CompiledPattern("b").replacingMatches(in: long, with: "xyz").count == 20_000, "output larger than the first buffer")
    }

    /// `\w`, `\d` and `\b` are Unicode-aware (as with Swift's Regex); a replacement cannot grow
    /// past its bound.
    @Test func unicodeClassesAndTheReplacementBound() throws {
        #expect(try CompiledPattern(#"^\w+$"#).matches("café"))
        #expect(try CompiledPattern(#"^\d+$"#).matches("١٢٣"))
        do {
            _ = try CompiledPattern("").replacingMatches(
                in: String(repeating: "a", count: 100_000), with: String(repeating: "b", count: 100))
            Issue.record("a 10 MB result was produced")
        } catch {
            #expect(error.limitExceeded)
        }
    }

    @Test func aBadPatternIsAnErrorWithItsOffset() {
        do {
            _ = try CompiledPattern("ab(c")
            Issue.record("compiled")
        } catch {
            #expect(error.offset == 4 && error.message.contains("missing closing parenthesis"))
        }
    }

    /// The classic catastrophic pattern gives up at its bound, quickly, instead of running for
    /// minutes; the same pattern on a matching input still matches.
    @Test func catastrophicBacktrackingGivesUpAtItsBound() throws {
        let pattern = try CompiledPattern("^(a+)+$")
        let hostile = String(repeating: "a", count: 40) + "!"
        let started = ContinuousClock.now
        do {
            _ = try pattern.matches(hostile)
            Issue.record("matched or failed without reaching the bound")
        } catch {
            #expect(error.limitExceeded)
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(try pattern.matches(String(repeating: "a", count: 40)))
    }

    /// A global replacement of many matches that each cost nearly the per-match bound stays within
    /// the replacement's time budget: an error for that input, not seconds of work on one event.
    @Test func aGlobalReplacementHasATotalBudget() throws {
        // Each block first tries the tens of thousands of ways to split its a's into a and aa
        // (none is followed by b), then matches through the second alternative.
        let pattern = try CompiledPattern("(?:(?:a|aa)+b|a{22}-)")
        let block = String(repeating: "a", count: 22) + "-"
        #expect(try pattern.replacingMatches(in: block + block, with: "x") == "xx", "a few such matches are fine")
        let hostile = String(repeating: block, count: 20_000)
        let started = ContinuousClock.now
        do {
            _ = try pattern.replacingMatches(in: hostile, with: "x")
            Issue.record("replaced every match: the budget did not apply")
        } catch {
            #expect(error.limitExceeded)
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
