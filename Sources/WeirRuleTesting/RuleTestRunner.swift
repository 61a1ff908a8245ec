import WeirCore
import WeirRules

/// A case's outcome: what failed (nothing, when it passed) and everything that happened.
public struct CaseResult: Sendable {
    public var file: String
    public var name: String
    public var location: SourceLocation
    public var failures: [CaseFailure]
    public var happenings: [Happening]
    /// Rules that did not take an event, and why.
    public var skips: [Skip] = []
    /// Wall-clock time the case took, in ms (functions that run for real take real time).
    public var elapsedMillis: Int64

    public var passed: Bool { failures.isEmpty }
}

/// One failed expectation: where it is written, what was expected, and the closest happening.
public struct CaseFailure: Sendable {
    public var location: SourceLocation
    public var message: String
    public var expected: Expectation?
    public var closest: Happening?
    public var differences: [Mismatch]
}

/// Runs rule test cases against a rule set, each from a clean state: no open windows, schedules
/// that never ran, a new temporary state directory for functions.
public struct RuleTestRunner: Sendable {
    public let rules: RuleSet
    public let maxPayloadBytes: Int
    public let maxHops: Int

    public init(rules: RuleSet, maxPayloadBytes: Int = 256 * 1024, maxHops: Int = 8) {
        self.rules = rules
        self.maxPayloadBytes = maxPayloadBytes
        self.maxHops = maxHops
    }

    public func run(_ file: RuleTestFile) async -> [CaseResult] {
        var results: [CaseResult] = []
        for testCase in file.cases { results.append(await run(testCase, file: file.path)) }
        return results
    }

    public func run(_ testCase: RuleTestCase, file: String) async -> CaseResult {
        let started = monotonicNanos()
        var result = CaseResult(
            file: file, name: testCase.name, location: testCase.location, failures: [], happenings: [], elapsedMillis: 0)
        let functions: FunctionCalls
        do {
            functions = try FunctionCalls(rules: rules)
        } catch {
            result.failures = [CaseFailure(location: testCase.location, message: error.message, differences: [])]
            return result
        }
        var caseRules = rules
        if let only = testCase.only {
            caseRules = RuleSet(
                rules: rules.rules.filter { only.contains($0.name) }, functions: rules.functions,
                schedules: rules.schedules.filter { only.contains($0.name) })
        }
        let simulation = CaseSimulation(
            rules: caseRules, testCase: testCase, maxPayloadBytes: maxPayloadBytes, maxHops: maxHops, functions: functions)
        await simulation.run()
        await functions.shutdown()
        result.happenings = simulation.happenings
        result.skips = simulation.skips
        if let stopped = simulation.stopped {
            result.failures.append(CaseFailure(location: testCase.location, message: stopped, differences: []))
        }
        result.failures += Self.judge(testCase, simulation.happenings)
        result.elapsedMillis = Int64((monotonicNanos() - started) / 1_000_000)
        return result
    }

    /// Checks the expectations against what happened. Each `expect` item claims a happening of its
    /// own, in the written order; `expect_none` items must match none; with `exactly`, every action
    /// must be claimed.
    static func judge(_ testCase: RuleTestCase, _ happenings: [Happening]) -> [CaseFailure] {
        var failures: [CaseFailure] = []
        var claimed = Set<Int>()
        for expectation in testCase.expect {
            let match = happenings.indices.first { !claimed.contains($0) && Matcher.mismatches(expectation, happenings[$0]).isEmpty }
            if let match {
                claimed.insert(match)
                continue
            }
            let unclaimed = happenings.indices.filter { !claimed.contains($0) }.map { happenings[$0] }
            var near = Matcher.closest(to: expectation, in: unclaimed) ?? Matcher.closest(to: expectation, in: happenings)
            // A happening that differs in every field named is no help: say none was like it.
            let named = expectation.fields.count + (expectation.at == nil ? 0 : 1)
            if let differences = near?.1, named > 0, Set(differences.map { $0.path.prefix { $0 != "." && $0 != "[" } }).count >= named {
                near = nil
            }
            let kind = expectation.kind.rawValue
            let message =
                near != nil
                ? "expected \(kind) did not happen"
                : happenings.contains { $0.kind == expectation.kind }
                    ? "expected \(kind) did not happen (no \(kind) like it)" : "expected \(kind) did not happen (no \(kind) at all)"
            failures.append(
                CaseFailure(
                    location: expectation.location, message: message, expected: expectation, closest: near?.0, differences: near?.1 ?? []))
        }
        for expectation in testCase.expectNone {
            for happening in happenings where Matcher.mismatches(expectation, happening).isEmpty {
                failures.append(
                    CaseFailure(
                        location: expectation.location, message: "unexpected \(expectation.kind.rawValue) happened", expected: expectation,
                        closest: happening, differences: []))
            }
        }
        if testCase.exactly {
            for (index, happening) in happenings.enumerated() where happening.kind.isAction && !claimed.contains(index) {
                failures.append(
                    CaseFailure(
                        location: testCase.location, message: "'exactly: true', but this \(happening.kind.rawValue) is not expected",
                        closest: happening, differences: []))
            }
        }
        return failures
    }
}
