import Foundation
import Glibc
import Testing
import WeirCore
import WeirTestSupport

/// The state disk fills while the cloud is down and devices keep publishing: the real binary stays
/// up, says why in `/healthz`, stops acknowledging (the broker keeps the events), and once space is
/// freed resumes by itself and delivers everything, published during and after the fault.
@Suite(.serialized) struct StoreFaultRecoveryTests {
    static var isRoot: Bool { getuid() == 0 }

    @Test(.enabled(if: isRoot, "mounts a tmpfs for state_dir: run as root to fill a real disk"))
    func fullDiskKeepsEverythingAndResumesOnceSpaceIsFreed() async throws {
        let local = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let fixture = try BinaryFixture(
            name: "diskfull", brokerPort: local.port,
            rules: ["fwd.yaml": "name: fwd\nsql: SELECT seq, pad FROM \"dev/+/tele\"\nactions:\n  - forward: cloud\n"],
            extra: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloudPort) }
                    batch: { max_events: 200, max_delay: 20ms }
                """)
        let state = fixture.dir.appendingPathComponent("state").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", state, "tmpfs", 0, "size=32m") == 0 else {
            Issue.record("mount tmpfs: \(String(cString: strerror(errno)))")
            return
        }
        defer { _ = umount2(state, Int32(MNT_DETACH)) }
        func health() -> (status: Int, body: String)? { Loopback.httpGet(port: fixture.admin, path: "/healthz") }
        func metric(_ series: String) -> Double? {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) }
        }

        let notify = try NotifySocket(directory: fixture.dir)
        let weir = try fixture.run(
            log: "weir.log", environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000", "PATH": "/usr/bin:/bin"])
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(20)) { health()?.status == 200 })
        // Leave about 3 MB: the outbox's rows fill that within seconds.
        var fs = statvfs()
        #expect(statvfs(state, &fs) == 0)
        let free = Int(fs.f_bavail) * Int(fs.f_frsize)
        let filler = state + "/filler"
        try Data(repeating: 0x5A, count: max(0, free - (3 << 20))).write(to: URL(fileURLWithPath: filler))

        let load = try await devicePublisher(local, perSecond: 1500, padding: 400)
        let faulted = await eventually(timeout: .seconds(60)) {
            guard let h = health() else { return false }
            return h.status == 503 && h.body.contains("no space")
        }
        #expect(faulted, "healthz: \(health().map { "\($0.status) \($0.body)" } ?? "no answer")")
        // Counted once per fault; the gauge may be back at 1 already if a reopen freed room.
        #expect(await eventually { (metric("weir_store_write_faults_total") ?? 0) >= 1 })
        // Devices keep publishing through the fault; the broker holds what Weir does not acknowledge.
        let during = load.acceptedSeqs.count
        #expect(await eventually { load.acceptedSeqs.count >= during + 3000 })
        #expect(!weir.hasExited, "Weir stays up on a full disk")
        // Paused on purpose by a handled fault: the watchdog keeps beating (no restart loop).
        let beats = (0..<3).map { _ in notify.wait(for: "WATCHDOG=1", seconds: 10).contains { $0.contains("WATCHDOG=1") } }
        #expect(beats == [true, true, true], "WATCHDOG=1 while the disk is full")
        let log = (try? String(contentsOf: fixture.dir.appendingPathComponent("weir.log"), encoding: .utf8)) ?? ""
        let faultLines = log.split(separator: "\n").filter { $0.contains("store not writable") || $0.contains("could not be made durable") }
        #expect(faultLines.count < 20, "a fault is reported, not logged once per event: \(faultLines.count) lines")

        try FileManager.default.removeItem(atPath: filler)
        #expect(await eventually(timeout: .seconds(30)) { health()?.status == 200 }, "resumes by itself once space is freed")
        #expect(await eventually { metric("weir_store_writable") == 1 })
        let cloud = try MosquittoBroker(port: cloudPort)
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"])
        // And after the fault: new events flow straight through.
        let afterFault = load.acceptedSeqs.count
        #expect(await eventually { load.acceptedSeqs.count >= afterFault + 1500 })
        await load.stop()
        let accepted = load.acceptedSeqs
        var forwarded = Set<Int>()
        let all = await eventually(timeout: .seconds(90)) {
            forwarded = Set(inbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["data"]?["seq"]?.intValue })
            return forwarded.isSuperset(of: accepted)
        }
        #expect(all, "lost: \(accepted.subtracting(forwarded).count) of \(accepted.count)")
        #expect(!weir.hasExited)
    }
}
