import Foundation
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport

@testable import WeirStore

/// The read-only walks `weir store verify` is built on.
@Suite struct StoreVisitTests {
    @Test func outboxNamesAreFoundWhateverTheirOrderAndPrefixes() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-visit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        // '-' sorts before '/', so `a-b`'s rows come before `a`'s: each must still be found once.
        for name in ["a", "a-b", "b", "a0"] {
            let outbox = try Outbox(db: db, name: name)
            _ = try await outbox.append(Array("{}".utf8))
            outbox.close()
        }
        try db.put(OutboxKeys(name: "gone").meta, OutboxCounters().encoded)  // totals left by a removed upstream
        #expect(try Outbox.names(db: db) == ["a", "a-b", "a0", "b", "gone"])
        #expect(try Outbox.metaProblem(db: db, name: "a") == nil)
        try db.put(OutboxKeys(name: "a").meta, [1, 2, 3])
        #expect(try Outbox.metaProblem(db: db, name: "a")?.contains("3 bytes") == true)
        var sequences: [UInt64] = []
        try Outbox.forEachStored(db: db, name: "a") { sequences.append($0.sequence) }
        #expect(sequences == [1], "rows of `a` only, not of `a-b` or `a0`")
    }

    @Test func windowGroupsAndScheduleTimesAreWalkedWithTheirKeys() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-visit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        try WindowStore(db: db).commit([WindowChange(rule: "avg", storeKey: "d1/10s", state: ["n": 1])])
        try db.put(Array("window/avg/bad".utf8), [0x00])
        var groups: [String] = []
        try WindowStore.forEachStored(db: db) { rule, key, state in
            groups.append("\(rule) \(key) \((try? state.get()) != nil)")
        }
        #expect(groups == ["avg bad false", "avg d1/10s true"])
        try ScheduleStore(db: db).recordRun(of: "rotate", at: 42)
        try db.put(Array("schedule-seen/cron".utf8), [1])
        var times: [String] = []
        try ScheduleStore.forEachStored(db: db) { rule, kind, millis in times.append("\(rule) \(kind) \(millis.map(String.init) ?? "-")") }
        #expect(times == ["rotate last_run 42", "cron first_seen -"])
    }
}
