import Foundation
import WeirCore
import WeirTestSupport

/// The input side of a product run: QoS 0 with `mqtt.ack: receipt` (the throughput figures), or
/// QoS 1 with `ack: durable` and a persistent session (the default, reported beside them).
enum AckMode: String, CaseIterable {
    case receipt, durable

    var qos: Int { self == .receipt ? 0 : 1 }
    var label: String { self == .receipt ? "QoS 0, ack: receipt" : "QoS 1, ack: durable" }
}

/// What the product benchmark drives: the binaries, a work directory, and the local broker
/// (restarted per measurement so no queued traffic of one run reaches the next).
struct ProductRig {
    var weir: String
    var mosquitto: String
    var mosquittoPub: String
    var mosquittoSub: String
    var work: URL
    /// Seconds a measurement may take before it is cut short (its rate is then over what was done).
    var timeout: Double

    /// The input topic: mosquitto_pub -l sends every line to one topic; the device is a payload field.
    static let inputTopic = "in/bench/tele"
    static let probe = #"{"device":"probe","seq":-1,"temp":1}"#

    /// A lines file of `count` events `{"device":"d<n>","seq":…,"temp":…}`, written once per name.
    func lines(_ name: String, count: Int, devices: Int, temp: (Int) -> Double) throws -> String {
        let path = work.appendingPathComponent("lines-\(name)-\(count).txt").path
        if FileManager.default.fileExists(atPath: path) { return path }
        var text = ""
        text.reserveCapacity(count * 48)
        for seq in 0..<count {
            text += #"{"device":"d\#(seq % devices)","seq":\#(seq),"temp":\#(temp(seq))}"#
            text += "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `mosquitto_pub -l` publishing every line of `file` to the input topic, as fast as it can.
    /// Its stdin stays open after the file (a `sleep` behind it): at end of input mosquitto_pub
    /// disconnects at once and drops what it has not sent yet (measured here: 34,681 of 100,000 at
    /// QoS 1, 92,503 at QoS 0). Stop it with `stopShell`.
    func feed(port: Int, file: String, qos: Int) throws -> ChildProcess {
        let command =
            "\(shellQuote("cat \(file); exec sleep 100000")) | exec \(mosquittoPub) -h 127.0.0.1 -p \(port) -t \(Self.inputTopic) "
            + "-q \(qos) -M 1000 -l"
        return try ChildProcess("/bin/sh", ["-c", command], output: work.appendingPathComponent("feed.log").path)
    }

    func broker(_ name: String, port: Int) throws -> ChildProcess {
        try startMosquitto(mosquitto, work: work, name: name, port: port, inflight: 1000)
    }

    /// Writes `rules` (YAML) and a configuration, starts `weir run` and waits until it is healthy.
    func daemon(
        _ name: String, rules: String, port: Int, mode: AckMode, cloudPort: Int? = nil, batch: String = "", qos: Int? = nil,
        startTimeout: Double = 20, upstreams: String? = nil
    ) async throws -> (process: ChildProcess, admin: Int) {
        let dir = work.appendingPathComponent("rules-\(name)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try rules.write(to: dir.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
        let admin = freePort()
        let upstream =
            upstreams ?? cloudPort.map { "upstreams:\n  cloud:\n    mqtt: { host: 127.0.0.1, port: \($0) }\n    \(batch)\n" } ?? ""
        let config = work.appendingPathComponent("\(name).yaml").path
        // A persistent session whenever the input is QoS 1, so the broker queues what Weir has not read.
        let inputQoS = qos ?? mode.qos
        try """
        gateway_id: bench
        rules_dir: \(dir.path)
        state_dir: \(work.appendingPathComponent("state-\(name)").path)
        log_level: warning
        mqtt: { host: 127.0.0.1, port: \(port), client_id: weir-\(name), qos: \(inputQoS), clean_session: \(inputQoS == 0), \
        ack: \(mode.rawValue) }
        admin: { listen: 127.0.0.1:\(admin) }
        rules_watch_interval: 0s
        \(upstream)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try await startDaemon(weir, work: work, config: config, admin: admin, log: name, timeout: startTimeout)
        return (process, admin)
    }

    /// Polls `count` (every `interval` s) from `start` until it reaches `expected`, stops growing for
    /// `idle` s, or the timeout passes; returns the events counted and the rate, counted / (last growth - start).
    func rate(from start: UInt64, expected: Int, interval: Double = 0.02, idle: Double = 3, _ count: () -> Double) -> (
        count: Int, perSecond: Double
    ) {
        let base = count()
        var done = 0.0
        var last = start
        while done < Double(expected) {
            Thread.sleep(forTimeInterval: interval)
            let now = monotonicNanos()
            let value = count() - base
            if value > done {
                done = value
                last = now
            } else if Double(now - last) / 1e9 > idle || Double(now - start) / 1e9 > timeout {
                if Double(now - start) / 1e9 > timeout { last = now }
                break
            }
        }
        if done < Double(expected) { say("    (counted \(Int(done)) of \(expected))") }
        return (Int(done), done / max(Double(last - start) / 1e9, 1e-9))
    }

    /// A `mosquitto_sub` on `topic` printing payloads to a fresh file; returns once a probe event
    /// published on the input side (`via` topic) has arrived, so the path is subscribed end to end.
    func consumer(port: Int, topic: String, qos: Int, name: String) throws -> (process: ChildProcess, file: String) {
        let file = work.appendingPathComponent("consumer-\(name).txt").path
        try? FileManager.default.removeItem(atPath: file)
        let sub = try ChildProcess(mosquittoSub, ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-q", "\(qos)"], output: file)
        let deadline = monotonicNanos() + 20_000_000_000
        while fileSize(file) == 0 {
            guard monotonicNanos() < deadline else { throw BenchFailure("no probe arrived on \(topic) within 20 s") }
            let probe = try ChildProcess(
                mosquittoPub, ["-h", "127.0.0.1", "-p", "\(port)", "-t", "in/probe/tele", "-q", "\(qos)", "-m", Self.probe])
            probe.waitForExit(timeout: 5)
            Thread.sleep(forTimeInterval: 0.1)
        }
        return (sub, file)
    }
}

func shellQuote(_ command: String) -> String { "sh -c '\(command)'" }

/// Stops a `/bin/sh -c` pipeline: its children first (by parent pid), then the shell.
func stopShell(_ shell: ChildProcess) {
    try? ChildProcess("/usr/bin/pkill", ["-KILL", "-P", "\(shell.pid)"]).waitForExit(timeout: 5)
    shell.stop(signal: SIGKILL)
}

func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

/// Sums every sample of a metric family whose series starts with `prefix` (e.g. one counter over all rules).
func scrapeSum(port: Int, prefix: String) -> Double? {
    guard let body = Loopback.httpGet(port: port, path: "/metrics")?.body else { return nil }
    var sum = 0.0
    for line in body.split(separator: "\n") where line.hasPrefix(prefix) {
        if let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) { sum += value }
    }
    return sum
}
