import ArgumentParser
import Foundation
import Logging
import Synchronization
import WeirCore
import WeirMQTT
import WeirTestSupport

/// Weir's benchmarks. Without a subcommand, `product`: every figure through the real daemon
/// (ProductBench.swift). `events` and `ack` also drive the daemon; `outbox`, `windows` and
/// `functions` drive components directly and label their output so.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir-bench", abstract: "Weir's benchmarks (see BENCHMARKS.md); without a subcommand, `product`: through the daemon.",
        subcommands: [
            ProductBench.self, EventPath.self, AckBench.self, OutboxBench.self, WindowBench.self, FunctionBench.self, RuleBench.self,
        ],
        defaultSubcommand: ProductBench.self)
}

/// Measures the event path against mosquitto itself, in one run on one machine:
/// throughput (events in -> rule -> publish out) against `mosquitto_sub` draining the same broker at
/// the same offered load, publish-to-output latency at a fixed rate, and Weir's RSS idle and under load.
struct EventPath: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Event path against mosquitto_sub: throughput, latency, memory.")

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
        let broker = try ChildProcess(mosquitto, ["-c", work.appendingPathComponent("mosquitto.conf").path])
        defer { broker.stop(signal: SIGKILL) }
        guard waitForPort(port) else { throw ValidationError("mosquitto did not start") }

        try relayRule(action: #"publish: { topic: "bench/out", qos: 0 }"#).write(
            to: work.appendingPathComponent("rules/relay.yaml"), atomically: true, encoding: .utf8)
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

        say("weir-bench: \(events) events x \(runs) runs per side; latency at \(latencyRate)/s for \(latencySeconds)s")
        var baseline: [Double] = []
        for _ in 0..<runs {
            baseline.append(try throughput(mosquittoSub: mosquittoSub, port: port, topic: "bench/in", publisher: publisher, work: work))
        }
        let weirProcess = try ChildProcess(
            weirPath, ["run", "--config", work.appendingPathComponent("weir.yaml").path],
            output: work.appendingPathComponent("weir.log").path)
        defer { weirProcess.stop(signal: SIGKILL) }
        guard waitForPort(admin) else { throw ValidationError("weir did not start; see \(work.path)/weir.log") }
        try await Task.sleep(for: .seconds(2))
        let idle = memoryKiB(pid: weirProcess.pid)
        var weirRates: [Double] = []
        for _ in 0..<runs {
            weirRates.append(try throughput(mosquittoSub: mosquittoSub, port: port, topic: "bench/out", publisher: publisher, work: work))
        }
        let direct = try await latency(port: port, topic: "bench/in", publisher: publisher)
        let histogramBefore = scrapeHistogram(port: admin, name: "weir_event_to_action_seconds")
        let viaWeir = try await latency(port: port, topic: "bench/out", publisher: publisher)
        let histogramAfter = scrapeHistogram(port: admin, name: "weir_event_to_action_seconds")
        let inside50 = histogramQuantile(histogramBefore, histogramAfter, 0.5)
        let inside99 = histogramQuantile(histogramBefore, histogramAfter, 0.99)
        let loaded = memoryKiB(pid: weirProcess.pid)
        weirProcess.stop()

        // Ingest -> rules -> pool alone: the same rule with an action that does no I/O (a log line
        // below the log level), so the broker carries each event once, as it does for mosquitto_sub.
        try relayRule(action: "log: { level: debug }").write(
            to: work.appendingPathComponent("rules/relay.yaml"), atomically: true, encoding: .utf8)
        let ingestOnly = try ChildProcess(
            weirPath, ["run", "--config", work.appendingPathComponent("weir.yaml").path],
            output: work.appendingPathComponent("weir2.log").path)
        defer { ingestOnly.stop(signal: SIGKILL) }
        guard waitForPort(admin) else { throw ValidationError("weir did not start; see \(work.path)/weir2.log") }
        try await Task.sleep(for: .seconds(1))
        var ingestRates: [Double] = []
        for _ in 0..<runs {
            ingestRates.append(try ingestThroughput(admin: admin, publisher: publisher))
        }
        ingestOnly.stop()

        broker.stop()
        let b = baseline.sorted()[runs / 2]
        let w = weirRates.sorted()[runs / 2]
        let i = ingestRates.sorted()[runs / 2]
        func ms(_ ns: Double) -> String { String(format: "%.3f ms", ns / 1e6) }
        say("")
        say("| figure | weir | baseline (mosquitto_sub / direct) | ratio |")
        say("| --- | --- | --- | --- |")
        say("| throughput, events/s (median of \(runs)) | \(Int(w)) | \(Int(b)) | \(String(format: "%.2f", w / b)) |")
        say(
            "| throughput without the output hop (rule + pool, action does no I/O) | \(Int(i)) | \(Int(b)) "
                + "| \(String(format: "%.2f", i / b)) |"
        )
        say("| latency p50 at \(latencyRate)/s | \(ms(viaWeir.p50)) | \(ms(direct.p50)) | |")
        say("| latency p99 at \(latencyRate)/s | \(ms(viaWeir.p99)) | \(ms(direct.p99)) | |")
        say(
            "| inside Weir, receipt -> action done (histogram bucket bound), p50 / p99 at \(latencyRate)/s "
                + "| <= \(ms(inside50 * 1e9)) / <= \(ms(inside99 * 1e9)) | | |"
        )
        say("| latency samples | \(viaWeir.count) | \(direct.count) | |")
        say("| RSS idle (of which anonymous) | \(idle.rss) KiB (\(idle.anon) KiB) | | |")
        say("| PSS idle | \(idle.pss) KiB | | |")
        say("| RSS after load, current / peak (anonymous) | \(loaded.rss) KiB / \(loaded.peak) KiB (\(loaded.anon) KiB) | | |")
        say("")
        say(
            "all throughput runs: weir \(weirRates.map { Int($0) }), weir without output \(ingestRates.map { Int($0) }), "
                + "mosquitto_sub \(baseline.map { Int($0) })"
        )
        try? FileManager.default.removeItem(at: work)
    }

    /// Publishes `events` as fast as the client can and returns the rate at which `mosquitto_sub`
    /// received them on `topic`: received / (time of the last arrival - first publish). Arrivals are
    /// counted from mosquitto_sub's output; the run ends when all arrived or none came for 3 s.
    func throughput(mosquittoSub: String, port: Int, topic: String, publisher: MQTTClient, work: URL) throws -> Double {
        let output = work.appendingPathComponent("sub-\(UUID().uuidString).txt").path
        let sub = try ChildProcess(mosquittoSub, ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-q", "0"], output: output)
        defer { sub.stop() }
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
        var received = 0
        var lastArrival = monotonicNanos()
        while received < events {
            Thread.sleep(forTimeInterval: 0.01)
            let now = lineCount(output)
            if now > received {
                received = now
                lastArrival = monotonicNanos()
            } else if monotonicNanos() - lastArrival > 3_000_000_000 {
                break
            }
        }
        if received < events {
            say("warning: \(topic): \(received) of \(events) events arrived (QoS 0 drops under overload)")
        }
        return Double(received) / (Double(lastArrival - start) / 1e9)
    }

    func relayRule(action: String) -> String {
        """
        name: relay
        sql: SELECT * FROM "bench/in" WHERE seq >= 0
        actions:
          - \(action)
        """
    }

    /// Publishes `events` and returns the rate at which Weir ran the rule's action on all of them,
    /// read from its own `weir_actions_run_total` counter.
    func ingestThroughput(admin: Int, publisher: MQTTClient) throws -> Double {
        let series = #"weir_actions_run_total{action="log"}"#
        let before = scrapeMetric(port: admin, series: series) ?? 0
        let start = monotonicNanos()
        for seq in 0..<events {
            while (try? publisher.publishNow(topic: "bench/in", payload: Array(#"{"seq":\#(seq),"device":"dev-0042","temp":71.5}"#.utf8)))
                == nil
            {
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        var done = 0.0
        var lastProgress = monotonicNanos()
        while done < Double(events) {
            Thread.sleep(forTimeInterval: 0.01)
            let now = (scrapeMetric(port: admin, series: series) ?? before) - before
            if now > done {
                done = now
                lastProgress = monotonicNanos()
            } else if monotonicNanos() - lastProgress > 3_000_000_000 {
                break
            }
        }
        if done < Double(events) { say("warning: weir ran \(Int(done)) of \(events) actions (QoS 0 drops under overload)") }
        return done / (Double(lastProgress - start) / 1e9)
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

/// Writes a line to stdout unbuffered, so progress shows when the output goes to a file.
func say(_ line: String = "") {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
