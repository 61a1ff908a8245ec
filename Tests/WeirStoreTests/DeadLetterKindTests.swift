import Foundation
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport

@testable import WeirStore

/// Kinds are stored as their strings: known ones come back as their cases, an unknown one keeps
/// its string (so `weir dlq list` and `show` print what was stored).
@Suite struct DeadLetterKindTests {
    @Test func everyKindRoundTripsThroughTheStore() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-dlq-kind")
        defer { try? FileManager.default.removeItem(at: dir) }
        let letters = try DeadLetters(db: try RocksDB(path: dir.path))
        let kinds: [DeadLetterKind] = [.upstream, .record, .function, .emit, .unknown("quarantine")]
        for kind in kinds {
            try letters.add(DeadLetter(kind: kind, target: "t", failedAt: 0, error: "e", attempts: 1, payload: nil))
        }
        let stored = try letters.list()
        #expect(stored.map(\.kind) == kinds)
        #expect(stored.map { $0.json["kind"] } == ["upstream", "record", "function", "emit", "quarantine"].map { .string($0) })
    }

    @Test func anUnknownStoredKindDecodesAndKeepsItsString() throws {
        let object: JSONValue = [
            "id": .int(7), "kind": .string("from-the-future"), "target": .string("t"), "failed_at_ms": .int(0),
            "error": .string("e"), "attempts": .int(1), "payload": nil,
        ]
        let letter = try DeadLetter(decoding: object)
        #expect(letter.kind == .unknown("from-the-future"))
        #expect(letter.kind.rawValue == "from-the-future")
        #expect(letter.json["kind"] == .string("from-the-future"))
    }
}
