import Foundation
import Testing
import WeirCore
import WeirMQTT
import WeirRocksDB
import WeirTestSupport
import WeirZstd

/// Runs `weir <arguments>` to completion and returns its exit status and output.
func runWeir(_ arguments: [String], in dir: URL) throws -> (status: Int32?, output: String) {
    let out = dir.appendingPathComponent("cli-\(UUID().uuidString.prefix(6)).txt").path
    let process = try ChildProcess(try weirExecutable(), arguments, output: out)
    let status = process.waitForExit(timeout: 30).map { ($0 >> 8) & 0xff }
    return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
}

func publishReadings(_ pub: MQTTClient, _ range: Range<Int>) async throws {
    for n in range { try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n)}"#.utf8), qos: 1) }
}

/// Limits, corruption, restarts and stops around the store, with the real binary where an operator
/// would use it.
@Suite(.serialized) struct StoreFaultTests {
    @Test func sizeCapDropsTheOldestCountsItAndOutboxStatsShowsIt() async throws {
        let local = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 503 })  // the uplink is down: everything queues
        let fixture = try BinaryFixture(
            name: "cap", brokerPort: local.port, rules: ["fwd.yaml": forwardRule],
            extra: """
                upstreams:
                  cloud:
                    http: { url: "\(sink.url)/ingest" }
                    batch: { max_events: 1000, max_delay: 10ms }
                    retry: { backoff: 100ms, max_backoff: 100ms }
                    queue: { max_bytes: 20KiB, ttl: 1d, when_full: drop_oldest }
                """)
        let weir = try fixture.run()
        defer { weir.stop() }
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        try await publishReadings(pub, 0..<600)
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? 0
        }
        #expect(await eventually { metric(#"weir_actions_run_total{action="forward"}"#) == 600 })

        let (status, output) = try runWeir(["outbox", "stats", "--json", "--config", fixture.config.path], in: fixture.dir)
        #expect(status == 0, "\(output)")
        let stats = try JSONParser.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))
        let depth = try #require(stats["depth"]?.intValue)
        let dropped = try #require(stats["dropped"]?.intValue)
        #expect(stats["upstream"] == "cloud")
        #expect(try #require(stats["bytes"]?.intValue) <= 20 * 1024, "the cap holds")
        #expect(dropped > 0 && depth + dropped == 600, "every row is either queued or counted as dropped")
        #expect(await eventually { metric(#"weir_outbox_dropped_total{upstream="cloud",reason="full"}"#) == Double(dropped) })

        let table = try runWeir(["outbox", "stats", "--config", fixture.config.path], in: fixture.dir).output
        #expect(table.contains("UPSTREAM") && table.contains("cloud"))
        let peek = try runWeir(["outbox", "peek", "--limit", "2", "--config", fixture.config.path], in: fixture.dir).output
        let first = try JSONParser.parse(String(peek.split(separator: "\n").first ?? ""))
        #expect(first["id"]?.stringValue == "cap-\(dropped + 1)", "the oldest kept row is next: \(peek)")
        #expect(first["data"]?["n"]?.intValue == dropped)

        // The uplink returns: what was kept is delivered, the newest rows, in order.
        let switchedAt = sink.requests.count
        sink.setStatus { $0 >= switchedAt ? 200 : 503 }
        #expect(await eventually(timeout: .seconds(20)) { metric(#"weir_forwarded_events_total{upstream="cloud"}"#) == Double(depth) })
        // A retry racing the switch may still have got a 503 and been sent again: first sightings count.
        var seen = Set<String>()
        let delivered = try sink.requests.dropFirst(switchedAt).flatMap { request -> [String] in
            guard case .array(let events) = try JSONParser.parse(try Zstd.decompress(request.body, maxSize: 1 << 24)) else { return [] }
            return events.compactMap { $0["id"]?.stringValue }
        }.filter { seen.insert($0).inserted }
        #expect(delivered == ((dropped + 1)...600).map { "cap-\($0)" })
    }

    @Test func aCorruptedRecordIsDeadLetteredAndTheOthersAreDelivered() async throws {
        let local = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 503 })
        let stateDir = try makeTemporaryDirectory(prefix: "weir-state")
        let rulesDir = try makeTemporaryDirectory(prefix: "weir-rules")
        let config = """
            upstreams:
              cloud:
                http: { url: "\(sink.url)/ingest" }
                batch: { max_events: 100, max_delay: 10ms }
                retry: { backoff: 50ms, max_backoff: 100ms }
                compression: none
            """
        var weir: DaemonHarness? = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": forwardRule], clientID: "weir-corrupt", extraConfig: config, rulesDir: rulesDir,
            stateDir: stateDir)
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        try await publishReadings(pub, 0..<20)
        #expect(await eventually { weir!.daemon.outboxes["cloud"]?.depth == 20 })
        try await weir!.stop()
        weir = nil

        // Bit rot in two stored values: one with a broken header, one whose row is not JSON.
        do {
            let db = try RocksDB(path: stateDir.appendingPathComponent("store").path)
            try db.put(Array("outbox/cloud/".utf8) + [UInt8](bigEndian: 5), [0xDE, 0xAD])
            try db.put(Array("outbox/cloud/".utf8) + [UInt8](bigEndian: 9), [1, 0, 0, 0, 0, 0, 0, 0, 1] + Array("{not json".utf8))
        }
        let before = sink.requests.count  // refused while the uplink was "down"
        sink.setStatus { _ in 200 }
        let again = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": forwardRule], clientID: "weir-corrupt", extraConfig: config, rulesDir: rulesDir,
            stateDir: stateDir)
        #expect(await eventually(timeout: .seconds(20)) { again.daemon.outboxes["cloud"]?.depth == 0 })
        let ids = sink.requests.dropFirst(before).flatMap { request -> [String] in
            guard case .array(let events)? = try? JSONParser.parse(request.body) else { return [] }
            return events.compactMap { $0["id"]?.stringValue }
        }
        #expect(Set(ids) == Set((1...20).filter { $0 != 5 && $0 != 9 }.map { "test-\($0)" }))
        let letters = try #require(try again.daemon.deadLetters?.list())
        #expect(letters.map(\.kind) == ["record"])
        #expect(letters.first?.payload[0]?["sequence"] == 5 && letters.first?.payload[1]?["sequence"] == 9)
        #expect(again.metric(#"weir_dead_letters_total{upstream="cloud"}"#) == 2)
        try await again.stop()
    }

    @Test func aStopWhileABatchIsInFlightKeepsItForTheNextStart() async throws {
        let local = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 0 })  // accepts the request, never answers
        let stateDir = try makeTemporaryDirectory(prefix: "weir-state")
        let rulesDir = try makeTemporaryDirectory(prefix: "weir-rules")
        let config = """
            upstreams:
              cloud:
                http: { url: "\(sink.url)/ingest", timeout: 60s }
                batch: { max_events: 100, max_delay: 10ms }
                compression: none
            """
        var weir: DaemonHarness? = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": forwardRule], clientID: "weir-inflight", extraConfig: config, rulesDir: rulesDir,
            stateDir: stateDir)
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        try await publishReadings(pub, 0..<10)
        #expect(await eventually { !sink.requests.isEmpty })
        let started = ContinuousClock.now
        try await weir!.stop()
        weir = nil
        #expect(ContinuousClock.now - started < .seconds(40), "the stop does not wait out the 60 s request timeout")

        sink.setStatus { _ in 200 }
        let again = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": forwardRule], clientID: "weir-inflight", extraConfig: config, rulesDir: rulesDir,
            stateDir: stateDir)
        func delivered() -> [String] {
            sink.requests.dropFirst().flatMap { request -> [String] in
                guard case .array(let events)? = try? JSONParser.parse(request.body) else { return [] }
                return events.compactMap { $0["id"]?.stringValue }
            }
        }
        // Events the broker redelivers after the restart arrive after the recovered backlog.
        #expect(await eventually(timeout: .seconds(20)) { again.daemon.outboxes["cloud"]?.depth == 0 && Set(delivered()).count == 10 })
        #expect(Set(delivered()) == Set((1...10).map { "test-\($0)" }), "the unacknowledged batch was sent again")
        try await again.stop()
    }

    @Test func anInvalidConfigOnRestartRefusesToStartAndKeepsTheBacklog() async throws {
        let local = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 503 })
        let upstream = """
            upstreams:
              cloud:
                http: { url: "\(sink.url)/ingest" }
                batch: { max_events: 100, max_delay: 10ms }
                retry: { backoff: 50ms, max_backoff: 100ms }
            """
        let fixture = try BinaryFixture(name: "cfg", brokerPort: local.port, rules: ["fwd.yaml": forwardRule], extra: upstream)
        let good = try String(contentsOf: fixture.config, encoding: .utf8)
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        let first = try fixture.run(log: "first.log")
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        try await publishReadings(pub, 0..<40)
        #expect(
            await eventually {
                Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap {
                    Loopback.metricValue($0.body, #"weir_actions_run_total{action="forward"}"#)
                } == 40
            })
        #expect(first.stop() != nil)

        // An operator's typo: the daemon refuses to start, naming the file, line and column.
        try good.replacingOccurrences(of: "max_delay: 10ms", with: "max_delay: 10 parsecs").write(
            to: fixture.config, atomically: true, encoding: .utf8)
        let broken = try fixture.run(log: "broken.log")
        #expect(broken.waitForExit(timeout: 20).map { ($0 >> 8) & 0xff } == 1)
        let message = try String(contentsOf: fixture.dir.appendingPathComponent("broken.log"), encoding: .utf8)
        #expect(message.contains("\(fixture.config.path):"), "\(message)")
        #expect(message.contains("'max_delay' must be a duration"), "\(message)")

        // Fixed: the backlog from before is all there and goes out.
        try good.write(to: fixture.config, atomically: true, encoding: .utf8)
        sink.setStatus { _ in 200 }
        let fixed = try fixture.run(log: "fixed.log")
        defer { fixed.stop() }
        let sent = await eventually(timeout: .seconds(20)) {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap {
                Loopback.metricValue($0.body, #"weir_forwarded_events_total{upstream="cloud"}"#)
            } == 40
        }
        #expect(sent)
    }
}

@Suite(.serialized) struct DamagedStoreTests {
    /// A write-ahead log damaged in the middle: Weir refuses to start and says why and what to do,
    /// deletes nothing; `weir store repair` keeps what is readable and the backlog goes out.
    @Test func aDamagedStoreIsReportedNotWipedAndRepairKeepsWhatIsReadable() async throws {
        let local = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 503 })
        let upstream = """
            upstreams:
              cloud:
                http: { url: "\(sink.url)/ingest" }
                batch: { max_events: 1000, max_delay: 10ms }
                retry: { backoff: 50ms, max_backoff: 100ms }
                compression: none
            """
        let fixture = try BinaryFixture(name: "dmg", brokerPort: local.port, rules: ["fwd.yaml": forwardRule], extra: upstream)
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        let first = try fixture.run(log: "first.log")
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let store = fixture.dir.appendingPathComponent("state/store")
        func latestWAL() throws -> String {
            let files = try FileManager.default.contentsOfDirectory(atPath: store.path)
            return store.appendingPathComponent(try #require(files.filter { $0.hasSuffix(".log") }.max())).path
        }
        func walSize() throws -> Int { try FileManager.default.attributesOfItem(atPath: try latestWAL())[.size] as? Int ?? 0 }
        // Three phases, each durable before the next: the damage then lands in a record that has
        // records after it. (RocksDB rightly tolerates a damaged last record as a torn write, so a
        // spot chosen blindly, which group commit may have put into the last record, proves nothing.)
        var sizes: [Int] = []
        for (phase, range) in [0..<100, 100..<150, 150..<200].enumerated() {
            try await publishReadings(pub, range)
            #expect(
                await eventually(timeout: .seconds(30)) {
                    Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap {
                        Loopback.metricValue($0.body, #"weir_actions_run_total{action="forward"}"#)
                    } == Double(range.upperBound)
                }, "phase \(phase)")
            sizes.append(try walSize())
        }
        _ = first.stop(signal: SIGKILL)

        // Overwrite bytes in the middle of the second phase's records.
        let walPath = try latestWAL()
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: walPath)))
        try #require(sizes[1] - sizes[0] > 256 && bytes.count >= sizes[2], "one WAL file holds the three phases: \(sizes)")
        let middle = sizes[0] + (sizes[1] - sizes[0]) / 2
        for i in middle..<(middle + 64) { bytes[i] ^= 0xFF }
        try Data(bytes).write(to: URL(fileURLWithPath: walPath))

        let refused = try fixture.run(log: "refused.log")
        #expect(refused.waitForExit(timeout: 20).map { ($0 >> 8) & 0xff } == 1)
        let message = try String(contentsOf: fixture.dir.appendingPathComponent("refused.log"), encoding: .utf8)
        #expect(message.contains("is damaged"), "\(message)")
        #expect(message.contains("weir store repair"), "\(message)")
        #expect(FileManager.default.fileExists(atPath: walPath), "nothing deleted")

        let repair = try runWeir(["store", "repair", "--config", fixture.config.path], in: fixture.dir)
        #expect(repair.status == 0, "\(repair.output)")

        sink.setStatus { _ in 200 }
        let again = try fixture.run(log: "again.log")
        defer { again.stop() }
        func forwarded() -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap {
                Loopback.metricValue($0.body, #"weir_forwarded_events_total{upstream="cloud"}"#)
            } ?? 0
        }
        // What was before the damage is readable and delivered; what the damage destroyed is not.
        // The first phase is before the damage; repair may also salvage records after it.
        #expect(await eventually(timeout: .seconds(30)) { forwarded() >= 100 })
        #expect(forwarded() <= 200)
    }
}
