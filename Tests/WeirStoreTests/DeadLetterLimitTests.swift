import Foundation
import MetricsTestKit
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport

@testable import WeirStore

/// Dead-letter caps: the oldest letters make room, atomically with the new one, and the totals
/// stay right across reopen and purge.
@Suite struct DeadLetterLimitTests {
    func letter(_ n: Int, padding: Int = 0) -> DeadLetter {
        DeadLetter(
            kind: .function, target: "notify", failedAt: 1_700_000_000_000, error: "exit 1", attempts: 3,
            payload: ["n": .int(Int64(n)), "pad": .string(String(repeating: "x", count: padding))])
    }

    @Test func theCountCapDropsTheOldestAndCountsThem() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-dlq")
        defer { try? FileManager.default.removeItem(at: dir) }
        let metrics = TestMetrics()
        let limits = DeadLetterLimits(maxBytes: nil, maxCount: 5)
        let letters = try DeadLetters(db: try RocksDB(path: dir.path), limits: limits, metricsFactory: metrics)
        for n in 1...8 { try letters.add(letter(n)) }
        #expect(letters.count == 5)
        #expect(try letters.list().map(\.id) == [4, 5, 6, 7, 8], "the newest five are kept")
        #expect(try metrics.expectCounter("weir_dead_letters_dropped_total").totalValue == 3)
        #expect(try metrics.expectGauge("weir_dead_letters_stored").lastValue == 5)
    }

    @Test func theByteCapDropsTheOldestUntilTheNewLetterFits() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-dlq")
        defer { try? FileManager.default.removeItem(at: dir) }
        let metrics = TestMetrics()
        let db = try RocksDB(path: dir.path)
        // Random padding does not compress: each letter takes roughly its padding on disk.
        func noise(_ n: Int) -> DeadLetter {
            var l = letter(n)
            let alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
            l.payload = ["n": .int(Int64(n)), "pad": .string(String((0..<1_000).map { _ in alphabet.randomElement()! }))]
            return l
        }
        let unlimited = try DeadLetters(db: db, limits: DeadLetterLimits(maxBytes: nil, maxCount: nil))
        try unlimited.add(noise(0))
        let one = unlimited.bytes
        try unlimited.purge()
        let cap = one * 4 + one / 2  // room for four letters, not five
        let letters = try DeadLetters(db: db, limits: DeadLetterLimits(maxBytes: cap, maxCount: nil), metricsFactory: metrics)
        for n in 1...10 { try letters.add(noise(n)) }
        #expect(letters.bytes <= cap)
        #expect(letters.count == 4, "\(letters.bytes) bytes, letters of about \(one)")
        #expect(try letters.list().map(\.id) == [7, 8, 9, 10], "a new store instance: ids from 1 again")
        #expect(try metrics.expectCounter("weir_dead_letters_dropped_total").totalValue == 6)
        #expect(try metrics.expectGauge("weir_dead_letters_stored_bytes").lastValue == Double(letters.bytes))
    }

    @Test func theTotalsSurviveReopenAndTheCapStillHolds() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-dlq")
        defer { try? FileManager.default.removeItem(at: dir) }
        let limits = DeadLetterLimits(maxBytes: 1 << 20, maxCount: 3)
        let (count, bytes): (Int, UInt64)
        do {
            let db = try RocksDB(path: dir.path)
            let letters = try DeadLetters(db: db, limits: limits)
            for n in 1...4 { try letters.add(letter(n, padding: 100)) }
            (count, bytes) = (letters.count, letters.bytes)
            db.close()
        }
        let letters = try DeadLetters(db: try RocksDB(path: dir.path), limits: limits)
        #expect(letters.count == count && count == 3)
        #expect(letters.bytes == bytes && bytes > 0, "bytes recovered by the scan at open")
        try letters.add(letter(5))
        #expect(try letters.list().map(\.id) == [3, 4, 5], "the oldest goes first after a reopen too")
    }

    @Test func purgeKeepsTheTotalsRight() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-dlq")
        defer { try? FileManager.default.removeItem(at: dir) }
        let letters = try DeadLetters(db: try RocksDB(path: dir.path), limits: DeadLetterLimits(maxBytes: nil, maxCount: 3))
        for n in 1...3 { try letters.add(letter(n)) }
        let full = letters.bytes
        #expect(try letters.purge(2) == 1)
        #expect(try letters.purge(2) == 0, "already gone")
        #expect(letters.count == 2 && letters.bytes < full)
        try letters.add(letter(4))
        #expect(try letters.list().map(\.id) == [1, 3, 4], "below the cap again: nothing dropped")
        try letters.add(letter(5))
        #expect(try letters.list().map(\.id) == [3, 4, 5])
        #expect(try letters.purge() == 3)
        #expect(letters.count == 0 && letters.bytes == 0)
        try letters.add(letter(6))
        #expect(letters.count == 1)
        #expect(try letters.list().map(\.id) == [6])
    }
}
