import Testing
import WeirCore

@Suite struct DeadLetterKindTests {
    @Test func rawValuesAreTheStoredStrings() {
        let kinds: [DeadLetterKind] = [.upstream, .record, .function, .emit, .publish]
        #expect(kinds.map(\.rawValue) == ["upstream", "record", "function", "emit", "publish"])
        for kind in kinds { #expect(DeadLetterKind(rawValue: kind.rawValue) == kind) }
    }

    @Test func anUnknownStringIsKeptAndEqualityFollowsTheString() {
        let kind = DeadLetterKind(rawValue: "quarantine")
        #expect(kind == .unknown("quarantine"))
        #expect(kind.rawValue == "quarantine" && "\(kind)" == "quarantine")
        #expect(DeadLetterKind.unknown("function") == .function, "the same string is the same kind")
        #expect(Set([DeadLetterKind.unknown("emit"), .emit]).count == 1)
    }
}
