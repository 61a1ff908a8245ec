import Glibc
import Synchronization
import Testing
import WeirCore

/// Threads carry the names the thread map in docs/architecture.md gives them (`top -H`, perf).
@Suite struct OSThreadTests {
    /// The calling thread's name, as the kernel reports it.
    static func currentName() -> String {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return String(decoding: buffer.prefix(max(0, n)).prefix { $0 != 0x0A }, as: UTF8.self)
    }

    @Test func aJoinableThreadIsNamed() {
        let seen = Mutex("")
        let thread = JoinableOSThread(name: "weir-outbox") { seen.withLock { $0 = Self.currentName() } }
        thread.join()
        #expect(seen.withLock { $0 } == "weir-outbox")
    }

    /// Linux keeps 15 bytes of a name: a longer one is cut, not refused (the thread would keep
    /// its creator's name).
    @Test func aLongNameIsCutToFifteenBytes() {
        let seen = Mutex("")
        let thread = JoinableOSThread(name: "weir-forwarder-cloud") { seen.withLock { $0 = Self.currentName() } }
        thread.join()
        #expect(seen.withLock { $0 } == "weir-forwarder-")
    }

    @Test func aDetachedThreadIsNamed() async throws {
        let seen = AsyncLatch<String>()
        startOSThread(name: "weir-mqtt") { seen.complete(.success(Self.currentName())) }
        #expect(try await seen.value == "weir-mqtt")
    }
}
