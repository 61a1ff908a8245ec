import Foundation
import WeirCore
import WeirTestSupport

/// Counts newline-terminated lines in a file (what `mosquitto_sub` has printed so far).
func lineCount(_ path: String) -> Int {
    guard let data = FileManager.default.contents(atPath: path) else { return 0 }
    return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
}

/// Memory figures of a process from /proc, in KiB: resident set, its peak, the anonymous (private,
/// heap and stacks) part, and the proportional set size (shared library pages divided among users).
func memoryKiB(pid: Int32) -> (rss: Int, peak: Int, anon: Int, pss: Int) {
    func field(_ file: String, _ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
    return (field("status", "VmRSS"), field("status", "VmHWM"), field("status", "RssAnon"), field("smaps_rollup", "Pss"))
}

func findExecutable(_ names: [String]) -> String? {
    for name in names where FileManager.default.isExecutableFile(atPath: name) { return name }
    return nil
}

func freePort() -> Int { Loopback.freePort() ?? 0 }

func waitForPort(_ port: Int, timeout: Double = 10) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let fd = Loopback.connect(port: port) {
            close(fd)
            return true
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return false
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[index]
}

/// Reads one Prometheus sample from Weir's admin endpoint (`GET /metrics` over loopback).
func scrapeMetric(port: Int, series: String) -> Double? {
    Loopback.httpGet(port: port, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) }
}

/// Cumulative histogram buckets (`le` upper bound in seconds -> count) of `name` from Weir's /metrics.
func scrapeHistogram(port: Int, name: String) -> [(le: Double, count: Double)] {
    guard let body = Loopback.httpGet(port: port, path: "/metrics")?.body else { return [] }
    var buckets: [(le: Double, count: Double)] = []
    let prefix = name + "_bucket{le=\""
    for line in body.split(separator: "\n") where line.hasPrefix(prefix) {
        let rest = line.dropFirst(prefix.count)
        guard let quote = rest.firstIndex(of: "\""), let space = rest.lastIndex(of: " "),
            let count = Double(rest[rest.index(after: space)...])
        else { continue }
        let le = rest[..<quote] == "+Inf" ? Double.infinity : Double(rest[..<quote]) ?? .infinity
        buckets.append((le, count))
    }
    return buckets.sorted { $0.le < $1.le }
}

/// The upper bound of the bucket holding quantile `q` of the observations between two scrapes.
func histogramQuantile(_ before: [(le: Double, count: Double)], _ after: [(le: Double, count: Double)], _ q: Double) -> Double {
    let previous = Dictionary(before.map { ($0.le, $0.count) }, uniquingKeysWith: { $1 })
    let deltas = after.map { (le: $0.le, count: $0.count - (previous[$0.le] ?? 0)) }
    guard let total = deltas.last?.count, total > 0 else { return .nan }
    return deltas.first { $0.count >= q * total }?.le ?? .infinity
}

/// Starts a mosquitto on 127.0.0.1:`port` without persistence, with `max_inflight_messages`
/// `inflight` and room for a million queued messages, and waits until it accepts connections.
func startMosquitto(_ mosquitto: String, work: URL, name: String, port: Int, inflight: Int) throws -> ChildProcess {
    let path = work.appendingPathComponent("\(name).conf").path
    try """
    listener \(port) 127.0.0.1
    allow_anonymous true
    persistence false
    max_inflight_messages \(inflight)
    max_queued_messages 1000000

    """.write(toFile: path, atomically: true, encoding: .utf8)
    let broker = try ChildProcess(mosquitto, ["-c", path], output: work.appendingPathComponent("\(name).log").path)
    guard waitForPort(port) else { throw BenchFailure("mosquitto \(name) did not start") }
    return broker
}

/// Starts `weir run --config config` and waits for /healthz to answer 200 (connected, subscribed,
/// store writable) for up to `timeout` seconds; the daemon's output goes to `work/log.log`.
func startDaemon(_ weir: String, work: URL, config: String, admin: Int, log: String, timeout: Double = 20) async throws -> ChildProcess {
    let logPath = work.appendingPathComponent("\(log).log").path
    let daemon = try ChildProcess(weir, ["run", "--config", config], output: logPath)
    let deadline = monotonicNanos() + UInt64(timeout * 1e9)
    while monotonicNanos() < deadline {
        if Loopback.httpGet(port: admin, path: "/healthz")?.status == 200 { return daemon }
        if daemon.hasExited { break }
        try? await Task.sleep(for: .milliseconds(20))
    }
    daemon.stop(signal: SIGKILL)
    throw BenchFailure("weir did not become healthy within \(Int(timeout)) s; see \(logPath)")
}
