import Foundation
import WeirCore

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
