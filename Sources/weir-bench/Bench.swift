import ArgumentParser
import Foundation
import Logging
import Synchronization
import WeirCore
import WeirMQTT

/// Measures the event path against mosquitto itself, in one run on one machine:
/// throughput (events in -> rule -> publish out) against `mosquitto_sub` draining the same broker at
/// the same offered load, publish-to-output latency at a fixed rate, and Weir's RSS idle and under load.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "weir-bench", abstract: "Event-path benchmark (see BENCHMARKS.md).")

    @Option(help: "Path of the weir binary (default: next to this one).") var weir: String?
    @Option(help: "Events per throughput run.") var events = 200_000
    @Option(help: "Throughput runs per side (the median is reported).") var runs = 3
    @Option(help: "Offered rate for the latency run (events/s).") var latencyRate = 10_000
    @Option(help: "Seconds of the latency run.") var latencySeconds = 5

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .error
            return h
        }
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let weirPath = weir ?? own.appendingPathComponent("weir").path
        guard let mosquitto = findExecutable(["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]),
            let mosquittoSub = findExecutable(["/usr/bin/mosquitto_sub"])
        else { throw ValidationError("mosquitto and mosquitto_sub are needed (apt-get install mosquitto mosquitto-clients)") }

        let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("weir-bench-\(getpid())")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("rules"), withIntermediateDirectories: true)
        let port = freePort()
        let admin = freePort()
        try "listener \(port) 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n".write(
            to: work.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        let broker = try Child("mosquitto", mosquitto, ["-c", work.appendingPathComponent("mosquitto.conf").path])
        defer { broker.stop() }
        guard waitForPort(port) else { throw ValidationError("mosquitto did not start") }

        try """
            name: relay
            sql: SELECT * FROM "bench/in" WHERE seq >= 0
            actions:
              - publish: { topic: "bench/out", qos: 0 }
            """.write(to: work.appendingPathComponent("rules/relay.yaml"), atomically: true, encoding: .utf8)
        try """
            gateway_id: bench
            rules_dir: \(work.appendingPathComponent("rules").path)
            state_dir: \(work.appendingPathComponent("state").path)
            log_level: warning
            mqtt: { host: 127.0.0.1, port: \(port), client_id: weir-bench, qos: 0, clean_session: true, buffer: 4096 }
            pool: { max_concurrency: 8, max_queued: 10000 }
            admin: { listen: 127.0.0.1:\(admin) }
            rules_watch_interval: 0s
            """.write(to: work.appendingPathComponent("weir.yaml"), atomically: true, encoding: .utf8)

        let publisher = try MQTTClient(
            configuration: MQTTConfiguration(port: port, clientID: "bench-pub", cleanSession: true, maxInflight: 1000),
            logger: Logger(label: "bench"))
        publisher.start()
        await publisher.waitUntilReady()
        defer { publisher.shutdown() }

        print("weir-bench: \(events) events x \(runs) runs per side; latency at \(latencyRate)/s for \(latencySeconds)s")
        var baseline: [Double] = []
        for _ in 0..<runs {
            baseline.append(try throughput(mosquittoSub: mosquittoSub, port: port, topic: "bench/in", publisher: publisher))
        }
        let weirProcess = try Child("weir", weirPath, ["run", "--config", work.appendingPathComponent("weir.yaml").path], log: work.appendingPathComponent("weir.log"))
        defer { weirProcess.stop() }
        guard waitForPort(admin) else { throw ValidationError("weir did not start; see \(work.path)/weir.log") }
        try await Task.sleep(for: .seconds(2))
        let idle = memoryKiB(pid: weirProcess.pid)
        var weirRates: [Double] = []
        for _ in 0..<runs {
            weirRates.append(try throughput(mosquittoSub: mosquittoSub, port: port, topic: "bench/out", publisher: publisher))
        }
        let direct = try await latency(port: port, topic: "bench/in", publisher: publisher)
        let viaWeir = try await latency(port: port, topic: "bench/out", publisher: publisher)
        let loaded = memoryKiB(pid: weirProcess.pid)

        let b = baseline.sorted()[runs / 2]
        let w = weirRates.sorted()[runs / 2]
        func ms(_ ns: Double) -> String { String(format: "%.3f ms", ns / 1e6) }
        print("")
        print("| figure | weir | baseline (mosquitto_sub / direct) | ratio |")
        print("| --- | --- | --- | --- |")
        print("| throughput, events/s (median of \(runs)) | \(Int(w)) | \(Int(b)) | \(String(format: "%.2f", w / b)) |")
        print("| latency p50 at \(latencyRate)/s | \(ms(viaWeir.p50)) | \(ms(direct.p50)) | |")
        print("| latency p99 at \(latencyRate)/s | \(ms(viaWeir.p99)) | \(ms(direct.p99)) | |")
        print("| latency samples | \(viaWeir.count) | \(direct.count) | |")
        print("| RSS idle | \(idle.rss / 1024) MiB (\(idle.rss) KiB) | | |")
        print("| RSS after load (current / peak) | \(loaded.rss / 1024) MiB / \(loaded.peak / 1024) MiB | | |")
        print("")
        print("all throughput runs: weir \(weirRates.map { Int($0) }), mosquitto_sub \(baseline.map { Int($0) })")
        try? FileManager.default.removeItem(at: work)
    }

    /// Publishes `events` as fast as the client can and returns the rate at which `mosquitto_sub`
    /// received all of them on `topic`.
    func throughput(mosquittoSub: String, port: Int, topic: String, publisher: MQTTClient) throws -> Double {
        let sub = try Child("mosquitto_sub", mosquittoSub, ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-C", "\(events)", "-q", "0"])
        Thread.sleep(forTimeInterval: 0.5)
        let start = monotonicNanos()
        for seq in 0..<events {
            var sent = false
            while !sent {
                do {
                    try publisher.publishNow(topic: "bench/in", payload: Array(#"{"seq":\#(seq),"device":"dev-0042","temp":71.5}"#.utf8))
                    sent = true
                } catch {
                    Thread.sleep(forTimeInterval: 0.001)
                }
            }
        }
        guard sub.wait(timeout: 120) else {
            sub.stop()
            throw ValidationError("\(topic): mosquitto_sub did not receive all \(events) events within 120 s")
        }
        return Double(events) / (Double(monotonicNanos() - start) / 1e9)
    }

    struct Latency {
        var p50: Double
        var p99: Double
        var count: Int
    }

    /// Publishes at `latencyRate` with the send time inside and measures arrival on `topic`.
    func latency(port: Int, topic: String, publisher: MQTTClient) async throws -> Latency {
        let samples = Mutex<[Double]>([])
        let receiver = try MQTTClient(
            configuration: MQTTConfiguration(port: port, clientID: "bench-lat-\(topic.hashValue & 0xffff)", cleanSession: true),
            subscribeQoS: 0, logger: Logger(label: "bench"),
            onMessage: { event in
                let now = monotonicNanos()
                if let value = try? JSONParser.parse(event.payload), case .int(let sent)? = value["sent_ns"] {
                    samples.withLock { $0.append(Double(Int64(now) - sent)) }
                }
            })
        try receiver.setSubscriptions([topic])
        receiver.start()
        await receiver.waitUntilReady()
        defer { receiver.shutdown() }
        let total = latencyRate * latencySeconds
        let start = monotonicNanos()
        for seq in 0..<total {
            let due = start + UInt64(Double(seq) / Double(latencyRate) * 1e9)
            while monotonicNanos() < due { usleep(50) }
            let payload = #"{"seq":\#(seq),"device":"dev-0042","temp":71.5,"sent_ns":\#(monotonicNanos())}"#
            try? publisher.publishNow(topic: "bench/in", payload: Array(payload.utf8))
        }
        try await Task.sleep(for: .seconds(1))
        // Drop the first second: connection warm-up is not steady state.
        let sorted = samples.withLock { Array($0.dropFirst(latencyRate)) }.sorted()
        return Latency(p50: percentile(sorted, 50), p99: percentile(sorted, 99), count: sorted.count)
    }
}
