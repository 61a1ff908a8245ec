import Foundation
import Logging
import WeirCore
import WeirMQTT
import WeirTestSupport

/// End to end (3), the backlog drain (4) and the latency under a paced load (5).
extension ProductBench {
    static let publishRule = """
        name: e2e
        sql: SELECT device, seq, temp FROM "in/+/tele" WHERE temp >= 0
        actions: [ { publish: { topic: "out/${device}", qos: 0 } } ]
        """

    /// What delivers the input topic to the consumer in an end-to-end run.
    enum Path: String, CaseIterable {
        case weir
        case shellRelay = "mosquitto_sub | mosquitto_pub -l"
        case cRelay = "libmosquitto relay"
        case drain = "mosquitto_sub drain"
    }

    // MARK: 3. End to end

    func endToEnd(_ rig: ProductRig, relay: String, mode: AckMode) async throws -> [Figure] {
        let events = quick ? 20_000 : 100_000
        let file = try rig.lines("e2e", count: events, devices: 1_000) { 20 + Double($0 % 50) / 10 }
        var rates: [Path: [Double]] = [:]
        for run in 0..<runs {
            for path in Path.allCases {
                let rate = try await deliver(rig, path: path, relay: relay, mode: mode, file: file, events: events, run: run)
                rates[path, default: []].append(rate)
            }
            say("    run \(run + 1): " + Path.allCases.map { "\($0.rawValue) \(Int(rates[$0]?.last ?? 0))/s" }.joined(separator: ", "))
        }
        func median(_ path: Path) -> Double {
            let sorted = (rates[path] ?? []).sorted()
            return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
        }
        let weir = median(.weir)
        let shell = median(.shellRelay)
        let drain = median(.drain)
        let ceiling = median(.cRelay)
        return [
            Figure(
                key: "e2e-relay",
                name: "publish rule end to end / C relay `mosquitto_sub | mosquitto_pub -l` (delivered events/s, median of \(runs))",
                mode: mode, value: weir, baseline: shell, target: ">= 1.2", met: weir / shell >= 1.2),
            Figure(
                key: "e2e-drain", name: "publish rule end to end / mosquitto_sub's own drain (delivered events/s)",
                mode: mode, value: weir, baseline: drain, target: "report", met: true),
            Figure(
                key: "e2e-ceiling", name: "publish rule end to end / zero-work libmosquitto relay, the measured ceiling (events/s)",
                mode: mode, value: weir, baseline: ceiling, target: "report", met: true),
        ]
    }

    /// Delivered events/s on one path: the consumer's count / (its last arrival - the feed's start).
    func deliver(_ rig: ProductRig, path: Path, relay: String, mode: AckMode, file: String, events: Int, run: Int) async throws -> Double {
        let port = freePort()
        let name = "e2e-\(mode)-\(run)-\(Path.allCases.firstIndex(of: path) ?? 0)"
        let broker = try rig.broker("broker-\(name)", port: port)
        defer { broker.stop(signal: SIGKILL) }
        var daemon: ChildProcess?
        var relayProcess: ChildProcess?
        defer {
            daemon?.stop(signal: SIGKILL)
            if let relayProcess { stopShell(relayProcess) }
        }
        let host = "-h 127.0.0.1 -p \(port)"
        switch path {
        case .weir: daemon = try await rig.daemon(name, rules: Self.publishRule, port: port, mode: mode).process
        case .shellRelay:
            relayProcess = try ChildProcess(
                "/bin/sh", ["-c", "\(rig.mosquittoSub) \(host) -t 'in/+/tele' -q \(mode.qos) | \(rig.mosquittoPub) \(host) -l -t out -q 0"])
        case .cRelay: relayProcess = try ChildProcess(relay, ["\(port)", "\(mode.qos)"])
        case .drain: break
        }
        let consumer = try rig.consumer(port: port, topic: path == .drain ? "in/+/tele" : "out/#", qos: 0, name: name)
        defer { consumer.process.stop(signal: SIGKILL) }
        let counter = LineCounter(consumer.file)
        let start = monotonicNanos()
        let feeder = try rig.feed(port: port, file: file, qos: mode.qos)
        defer { stopShell(feeder) }
        return rig.rate(from: start, expected: events) { Double(counter.count()) }.perSecond
    }

    // MARK: 4. Backlog drain

    func backlog(_ rig: ProductRig) async throws -> [Figure] {
        let rows = quick ? 50_000 : 1_000_000
        let file = try rig.lines("backlog", count: rows, devices: 1_000) { 20 + Double($0 % 50) / 10 }
        let port = freePort()
        let cloudPort = freePort()
        let broker = try rig.broker("broker-backlog", port: port)
        defer { broker.stop(signal: SIGKILL) }
        let rules = """
            name: fwd
            sql: SELECT device, seq, temp FROM "in/+/tele" WHERE temp >= 0
            actions: [ { forward: cloud } ]
            """
        let daemon = try await rig.daemon(
            "backlog", rules: rules, port: port, mode: .receipt, cloudPort: cloudPort,
            batch: "batch: { max_events: 500, max_delay: 20ms }", qos: 1)
        defer { daemon.process.stop(signal: SIGKILL) }
        let depthSeries = #"weir_outbox_depth{upstream="cloud"}"#
        func depth() -> Double { scrapeMetric(port: daemon.admin, series: depthSeries) ?? .nan }
        var slow = rig
        slow.timeout = 300
        let start = monotonicNanos()
        // QoS 1 in and a persistent session, so the broker queues what Weir has not read yet
        // rather than dropping it (at QoS 0 the fill stopped at 53,767 and 88,377 of 1M).
        let feeder = try rig.feed(port: port, file: file, qos: 1)
        let fill = slow.rate(from: start, expected: rows, interval: 0.1, idle: 10) { depth() }
        stopShell(feeder)
        let queued = depth()
        let fillSeconds = Double(fill.count) / fill.perSecond
        say("    queued \(Int(queued)) rows with the cloud down in \(Figure.format(fillSeconds)) s (\(Int(fill.perSecond)) rows/s)")

        let cloudStart = monotonicNanos()
        let cloud = try rig.broker("cloud-backlog", port: cloudPort)
        defer { cloud.stop(signal: SIGKILL) }
        var connected: UInt64?
        let deadline = cloudStart + UInt64(timeout * 3 * 1e9)
        while monotonicNanos() < deadline {
            let now = monotonicNanos()
            if connected == nil, scrapeMetric(port: daemon.admin, series: #"weir_upstream_connected{upstream="cloud"}"#) == 1 {
                connected = now
            }
            if connected != nil, depth() == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let end = monotonicNanos()
        let drained = Double(end - (connected ?? cloudStart)) / 1e9
        let rowsSent = queued - depth()
        say(
            "    drained in \(Figure.format(drained)) s after the upstream connected (\(Figure.format(Double(end - cloudStart) / 1e9)) s "
                + "after the cloud broker started); \(Int(rowsSent)) rows sent, depth now \(Int(depth()))")
        // Scaled to 1M rows when fewer were queued (--quick), for the target.
        let perMillion = drained * 1e6 / max(rowsSent, 1)
        return [
            Figure(
                key: "backlog",
                name: "\(Int(queued).grouped)-row backlog drain to a real broker (QoS 1 input, ack: receipt), s / s to queue it",
                mode: .receipt, value: drained, baseline: fillSeconds, target: "<= 5 s per 1M rows", met: perMillion <= 5)
        ]
    }

    // MARK: 5. Latency inside Weir

    func latency(_ rig: ProductRig, mode: AckMode) async throws -> [Figure] {
        let rate = 10_000
        let seconds = quick ? 2 : 5
        let port = freePort()
        let broker = try rig.broker("broker-latency-\(mode)", port: port)
        defer { broker.stop(signal: SIGKILL) }
        let daemon = try await rig.daemon("latency-\(mode)", rules: Self.publishRule, port: port, mode: mode)
        defer { daemon.process.stop(signal: SIGKILL) }
        let payload: @Sendable (Int) -> [UInt8] = { Array(#"{"device":"d\#($0 % 1000)","seq":\#($0),"temp":21.5}"#.utf8) }
        let before = scrapeHistogram(port: daemon.admin, name: "weir_event_to_action_seconds")
        if mode == .receipt {
            let publisher = try MQTTClient(
                configuration: MQTTConfiguration(port: port, clientID: "bench-paced", cleanSession: true, maxInflight: 1000),
                logger: Logger(label: "bench"))
            publisher.start()
            await publisher.waitUntilReady()
            defer { publisher.shutdown() }
            // Paced against the clock: every millisecond, the events due by then.
            let start = monotonicNanos()
            var seq = 0
            while seq < rate * seconds {
                let due = Int(Double(monotonicNanos() - start) / 1e9 * Double(rate))
                while seq < min(due, rate * seconds) {
                    try? publisher.publishNow(topic: ProductRig.inputTopic, payload: payload(seq))
                    seq += 1
                }
                usleep(1_000)
            }
        } else {
            let load = try await PacedLoad(
                port: port, clientID: "bench-paced", perSecond: rate, topic: { _ in ProductRig.inputTopic }, payload: payload)
            try await Task.sleep(for: .seconds(seconds))
            await load.stop()
        }
        try await Task.sleep(for: .milliseconds(500))
        let after = scrapeHistogram(port: daemon.admin, name: "weir_event_to_action_seconds")
        let p50 = histogramQuantile(before, after, 0.5) * 1000
        let p99 = histogramQuantile(before, after, 0.99) * 1000
        say("    receipt -> publish done, bucket bounds: p50 <= \(Figure.format(p50)) ms, p99 <= \(Figure.format(p99)) ms")
        return [
            Figure(
                key: "p99", name: "inside-Weir p99 at 10k events/s incl. buffer wait, ms (histogram bucket bound) / p50",
                mode: mode, value: p99, baseline: p50, target: "<= 1 ms", met: p99 <= 1)
        ]
    }
}

/// Counts the newlines appended to a file since it was opened, reading only the new bytes.
final class LineCounter {
    let fd: Int32
    var lines = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 16)

    init(_ path: String) { fd = open(path, O_RDONLY) }
    deinit { if fd >= 0 { close(fd) } }

    func count() -> Int {
        guard fd >= 0 else { return 0 }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return lines }
            for i in 0..<n where buffer[i] == 0x0A { lines += 1 }
        }
    }
}

/// The zero-work relay: subscribe to the input topic, republish each payload as it came. C on
/// libmosquitto, the library Weir's own MQTT client wraps, so it is the floor of any relay's cost:
/// no parse, no rule, no Swift, one network thread. Compiled with `cc` at bench time.
let relaySource = """
    #include <mosquitto.h>
    #include <stdlib.h>
    static int qos;
    static void on_connect(struct mosquitto *m, void *u, int rc) { mosquitto_subscribe(m, NULL, "in/+/tele", qos); }
    static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
        mosquitto_publish(m, NULL, "out/relay", msg->payloadlen, msg->payload, 0, false);
    }
    int main(int argc, char **argv) {
        if (argc < 3) return 2;
        qos = atoi(argv[2]);
        mosquitto_lib_init();
        struct mosquitto *m = mosquitto_new(NULL, true, NULL);
        mosquitto_connect_callback_set(m, on_connect);
        mosquitto_message_callback_set(m, on_message);
        if (mosquitto_connect(m, "127.0.0.1", atoi(argv[1]), 30) != MOSQ_ERR_SUCCESS) return 1;
        return mosquitto_loop_forever(m, -1, 1);
    }
    """
