import Foundation
import Testing
import WeirRocksDB

func temporaryPath() -> String {
    var template = Array((NSTemporaryDirectory() + "/weir-rocksdb.XXXXXX").utf8CString)
    return String(cString: mkdtemp(&template)!)
}

@Suite struct RocksDBTests {
    @Test func putGetDeleteAndReopen() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let db = try RocksDB(path: path)
            try db.put(Array("k".utf8), Array("v1".utf8), sync: true)
            try db.put(Array("gone".utf8), [1])
            try db.delete(Array("gone".utf8))
            #expect(try db.get(Array("k".utf8)) == Array("v1".utf8))
            #expect(try db.get(Array("gone".utf8)) == nil)
        }
        let again = try RocksDB(path: path)
        #expect(try again.get(Array("k".utf8)) == Array("v1".utf8))
    }

    @Test func bigEndianKeysScanInNumericOrderWithinBounds() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try RocksDB(path: path)
        for n in UInt64(1)...1000 { try db.put([UInt8](bigEndian: n), [UInt8](bigEndian: n * 2)) }
        var seen: [UInt64] = []
        try db.scan(from: [UInt8](bigEndian: 250), upTo: [UInt8](bigEndian: 260)) { key, value in
            seen.append(key.bigEndianUInt64!)
            #expect(value.bigEndianUInt64 == key.bigEndianUInt64! * 2)
            return true
        }
        #expect(seen == Array(250..<260))
    }

    @Test func openingAFileIsAnErrorNamingTheCall() throws {
        let path = temporaryPath() + "/file"
        FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
        #expect {
            try RocksDB(path: path)
        } throws: { error in
            (error as? RocksDBError)?.operation == "rocksdb_open"
        }
    }

    @Test func corruptedManifestIsReportedNotWiped() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let db = try RocksDB(path: path)
            try db.put(Array("k".utf8), Array("v".utf8), sync: true)
        }
        let current = try String(contentsOfFile: path + "/CURRENT", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try Data(repeating: 0xAB, count: 512).write(to: URL(fileURLWithPath: path + "/" + current))
        #expect(throws: RocksDBError.self) { try RocksDB(path: path) }
        #expect(FileManager.default.fileExists(atPath: path + "/" + current), "the damaged file is left for inspection")
    }

    @Test func closeReleasesTheLockAndLaterCallsThrow() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try RocksDB(path: path)
        try db.put(Array("k".utf8), Array("v".utf8), sync: true)
        db.close()
        #expect(throws: RocksDBError.self) { try db.get(Array("k".utf8)) }
        let again = try RocksDB(path: path)  // while `db` is still referenced
        #expect(try again.get(Array("k".utf8)) == Array("v".utf8))
        db.close()
    }

    @Test func zstdBlocksShrinkRepetitiveRowsOnDisk() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try RocksDB(path: path)
        let row = Array(
            #"{"rule":"avg","topic":"sensors/s1/telemetry","time":1700000000000,"data":{"device":"dev-0001","temp":21.5}}"#.utf8)
        for i in 0..<20_000 { try db.put(Array("r/".utf8) + [UInt8](bigEndian: UInt64(i)), row) }
        try db.compactRange(from: Array("r/".utf8), to: Array("r0".utf8))
        let onDisk = try db.approximateSize(from: Array("r/".utf8), to: Array("r0".utf8))
        #expect(onDisk > 0)
        #expect(onDisk < UInt64(20_000 * row.count / 4), "zstd-compressed SST blocks: \(onDisk) bytes for \(20_000 * row.count) raw")
    }
}
