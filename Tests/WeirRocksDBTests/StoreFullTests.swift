import Foundation
import Glibc
import Testing
import WeirRocksDB

/// A tmpfs of `size` mounted at a fresh directory, so a test can fill a disk for real.
struct SmallDisk {
    let path: String

    init(size: String) throws {
        path = temporaryPath()
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(size)") == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    /// Fills `bytes` of the disk with a file that `free` removes again.
    func fill(_ bytes: Int) throws {
        try Data(repeating: 0x5A, count: bytes).write(to: URL(fileURLWithPath: path + "/filler"))
    }

    func free() throws { try FileManager.default.removeItem(atPath: path + "/filler") }

    func unmount() {
        // Lazy: a handle a failed expectation left open must not keep the mount (or the test) stuck.
        if umount2(path, Int32(MNT_DETACH)) != 0 { Issue.record("umount \(path): \(String(cString: strerror(errno)))") }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Random bytes: incompressible, so the disk fills at the rate the test writes.
func noise(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

@Suite struct StoreFullTests {
    static var isRoot: Bool { getuid() == 0 }

    /// Where the disk runs out: with 1 MB memtables a flush's table file fails first (the write after
    /// it gets the background error); with 4 MB ones the WAL append of the write itself fails.
    static let layouts: [(memtable: Int, filler: Int)] = [(1 << 20, 4 << 20), (4 << 20, 5 << 20)]

    /// Writes the way the outbox does (synced appends, unsynced acks, batches deleting acks with point
    /// and range deletes) until the disk is full; the process surviving is half the check.
    @Test(.enabled(if: isRoot, "mounts a tmpfs: run as root to fill a real disk"), arguments: layouts)
    func fullDiskFailsWritesKeepsReadsAndResumesWithoutLoss(memtable: Int, filler: Int) throws {
        let disk = try SmallDisk(size: "8m")
        defer { disk.unmount() }
        try disk.fill(filler)
        var options = RocksDB.Options()
        options.writeBufferSize = memtable
        let path = disk.path + "/db"
        let db = try RocksDB(path: path, options: options)
        defer { db.close() }

        var acknowledged: [UInt64] = []
        var fault: RocksDBError?
        for n in UInt64(1)...50_000 {
            do {
                try db.put([UInt8](bigEndian: n), noise(512), sync: true)
                acknowledged.append(n)
                try db.put(Array("ack".utf8) + [UInt8](bigEndian: n), [1])
                if n % 10 == 0 {
                    let batch = WriteBatch()
                    batch.delete(Array("ack".utf8) + [UInt8](bigEndian: n - 1))
                    batch.deleteRange(from: Array("ack".utf8) + [UInt8](bigEndian: 0), to: Array("ack".utf8) + [UInt8](bigEndian: n - 5))
                    try db.write(batch, sync: false)
                }
            } catch let error as RocksDBError {
                fault = error
                break
            }
        }
        let error = try #require(fault, "8 MB must fill before 50,000 records of 512 bytes")
        #expect(error.reason == "no space", "\(error)")
        #expect(error.message.contains("No space left on device"))
        #expect(!db.isWritable)
        #expect(db.writeFailure?.reason == "no space")
        #expect(acknowledged.count > 100)

        // Reads go on; writes of every kind are refused at once, before reaching RocksDB.
        #expect(try db.get([UInt8](bigEndian: acknowledged[0])) != nil)
        #expect(try db.get([UInt8](bigEndian: acknowledged.last!)) != nil)
        let writes: [() throws -> Void] = [
            { try db.put([UInt8](bigEndian: 0), [1], sync: true) },
            { try db.delete([UInt8](bigEndian: 1)) },
            { try db.write(WriteBatch(), sync: true) },
            { try db.compactRange(from: [0], to: [0xFF]) },
        ]
        for write in writes {
            let refused = #expect(throws: RocksDBError.self) { try write() }
            #expect(refused?.reason == "no space")
            #expect(refused?.message.contains("suspended") == true, "\(String(describing: refused))")
        }

        // Still full: resume throws and leaves the database readable (read-only) and unwritable.
        // With 1 MB memtables the reopen may fit in what the failed flush left free, so either outcome holds.
        if (try? db.resume()) == nil {
            #expect(!db.isWritable)
            #expect(try db.get([UInt8](bigEndian: acknowledged.last!)) != nil)
            #expect(throws: RocksDBError.self) { try db.put([UInt8](bigEndian: 0), [1], sync: true) }
        }

        try disk.free()
        var attempts = 0
        while !db.isWritable, attempts < 10 {
            attempts += 1
            do { try db.resume() } catch { usleep(200_000) }
        }
        #expect(db.isWritable, "resume() after freeing the filler: \(String(describing: db.writeFailure))")
        #expect(db.writeFailure == nil)

        let resumedFrom = (acknowledged.last ?? 0) + 1
        for n in resumedFrom..<resumedFrom + 200 {
            try db.put([UInt8](bigEndian: n), noise(512), sync: true)
            acknowledged.append(n)
        }
        db.close()

        let reopened = try RocksDB(path: path, options: options)
        defer { reopened.close() }
        let missing = try acknowledged.filter { try reopened.get([UInt8](bigEndian: $0)) == nil }
        #expect(missing.isEmpty, "\(missing.count) of \(acknowledged.count) acknowledged records lost")
        #expect(reopened.isWritable)
    }

    @Test func writabilityFollowsTheHandle() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try RocksDB(path: path)
        #expect(db.isWritable)
        #expect(db.writeFailure == nil)
        try db.resume()  // a no-op while writable
        try db.put([1], [1], sync: true)
        var readOnly = RocksDB.Options()
        readOnly.readOnly = true
        #expect(try RocksDB(path: path, options: readOnly).isWritable == false)
        db.close()
        #expect(!db.isWritable)
    }

    @Test func infoLogIsWrittenAndRolled() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = RocksDB.Options()
        options.maxLogFileSize = 4096
        for _ in 0..<3 { try RocksDB(path: path, options: options).close() }
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        #expect(names.contains("LOG"))
        let rolled = names.filter { $0.hasPrefix("LOG.old.") }
        // RocksDB prunes rolled logs to keepLogFiles at open and close; lines logged after that may roll once more.
        #expect(!rolled.isEmpty && rolled.count <= options.keepLogFiles + 1, "\(names)")
        let log = try names.filter { $0.hasPrefix("LOG") }.map { try String(contentsOfFile: path + "/" + $0, encoding: .utf8) }
        #expect(log.contains { $0.contains("Shutdown complete") })
    }
}
