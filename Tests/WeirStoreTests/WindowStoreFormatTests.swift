import Foundation
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport
import WeirZstd

@testable import WeirStore

/// Saved window groups: small ones as plain JSON, large ones as a zstd frame, and state saved by
/// earlier versions (a zstd frame for every group) still reads back.
@Suite struct WindowStoreFormatTests {
    func group(values: Int) -> JSONValue {
        .object(["count": .int(Int64(values)), "values": .array((0..<values).map { .double(Double($0) * 1.5) })])
    }

    @Test func smallGroupsAreStoredAsJSONAndLargeOnesCompressed() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-window-format")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        defer { db.close() }
        let store = WindowStore(db: db)
        let small = group(values: 3)
        let large = group(values: 400)
        try store.commit([
            WindowChange(rule: "r", storeKey: "small", state: small), WindowChange(rule: "r", storeKey: "large", state: large),
        ])
        let smallRaw = try #require(try db.get(WindowStore(db: db).prefix("r") + Array("small".utf8)))
        let largeRaw = try #require(try db.get(WindowStore(db: db).prefix("r") + Array("large".utf8)))
        #expect(smallRaw == JSONWriter.bytes(small))
        #expect(largeRaw.starts(with: GroupState.zstdMagic))
        #expect(largeRaw.count < JSONWriter.bytes(large).count)
        #expect(store.load(rule: "r", storeKey: "small") == small)
        #expect(store.load(rule: "r", storeKey: "large") == large)
    }

    @Test func groupsSavedByEarlierVersionsReadBack() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-window-format")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        defer { db.close() }
        let old = group(values: 2)
        // What versions up to this one wrote: every group a zstd frame, however small.
        try db.put(WindowStore(db: db).prefix("r") + Array("g".utf8), try Zstd.compress(JSONWriter.bytes(old)))
        let store = WindowStore(db: db)
        #expect(store.load(rule: "r", storeKey: "g") == old)
        let loaded = try store.load(rule: "r")
        #expect(loaded.unreadable == 0)
        #expect(loaded.groups.map(\.storeKey) == ["g"])
        #expect(loaded.groups.first?.state == old)
    }
}
