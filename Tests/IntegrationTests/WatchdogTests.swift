import Foundation
import Glibc
import Testing
import WeirCore
import WeirTestSupport

/// The systemd watchdog follows progress (issue 11): a disk that stops answering (a frozen file
/// system, as a dying SD card does) wedges the outbox committer, and `weir run` then stops sending
/// `WATCHDOG=1` so that systemd restarts it; once the disk answers again the heartbeat resumes.
@Suite(.serialized) struct WatchdogTests {
    static var isRoot: Bool { getuid() == 0 }

    /// Runs `command`, returning its exit status.
    @discardableResult
    static func sh(_ command: String) throws -> Int32? {
        try ChildProcess("/bin/sh", ["-c", command]).waitForExit(timeout: 60)
    }

    @Test(.enabled(if: isRoot, "mounts an ext4 image and freezes it: run as root"))
    func aWedgedDiskWithholdsTheWatchdogUntilItAnswersAgain() async throws {
        let local = try MosquittoBroker()
        let cloud = try MosquittoBroker()
        let fixture = try BinaryFixture(
            name: "wedge", brokerPort: local.port,
            rules: ["fwd.yaml": "name: fwd\nsql: SELECT n FROM \"dev/+/tele\"\nactions:\n  - forward: cloud\n"],
            extra: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloud.port) }
                    batch: { max_events: 100, max_delay: 20ms }
                """)
        let image = fixture.dir.appendingPathComponent("disk.img").path
        let state = fixture.dir.appendingPathComponent("state").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(try Self.sh("truncate -s 64M \(image) && mkfs.ext4 -q \(image) && mount -o loop \(image) \(state)") == 0)
        // Thawed before anything else is torn down: a frozen mount blocks every writer, kill -9 included.
        defer { try? Self.sh("fsfreeze -u \(state) 2>/dev/null; umount -l \(state)") }

        let notify = try NotifySocket(directory: fixture.dir)
        let weir = try fixture.run(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000", "PATH": "/usr/bin:/bin"])
        defer { weir.stop(signal: SIGKILL) }
        #expect(notify.wait(for: "READY=1", seconds: 30).contains { $0.contains("READY=1") })
        #expect(notify.wait(for: "WATCHDOG=1", seconds: 5).contains { $0.contains("WATCHDOG=1") })
        let pub = try await publisher(local)
        defer { pub.shutdown() }

        #expect(try Self.sh("fsfreeze -f \(state)") == 0)
        // Events arrive; their rows cannot be written: the committer is stuck in the kernel.
        for n in 0..<20 { try await pub.publish(topic: "dev/1/tele", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        let stalled = notify.wait(for: "STATUS=stalled", seconds: 30)
        #expect(stalled.contains { $0.contains("STATUS=stalled") && $0.contains("outbox cloud") }, "\(stalled)")
        // From then on no heartbeat, for as long as the disk is wedged.
        let quiet = notify.wait(for: "WATCHDOG=1", seconds: 4)
        #expect(!quiet.contains { $0.contains("WATCHDOG=1") }, "\(quiet)")
        let log = (try? String(contentsOf: fixture.dir.appendingPathComponent("weir.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("no progress: withholding the systemd watchdog"))

        #expect(try Self.sh("fsfreeze -u \(state)") == 0)
        #expect(notify.wait(for: "WATCHDOG=1", seconds: 30).contains { $0.contains("WATCHDOG=1") }, "the heartbeat resumes")
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"])
        try await pub.publish(topic: "dev/1/tele", payload: Array(#"{"n":20}"#.utf8), qos: 1)
        #expect(await eventually(timeout: .seconds(30)) { !inbox.payloads.isEmpty }, "and events flow again")
        #expect(!weir.hasExited)
    }
}
