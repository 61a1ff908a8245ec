import Foundation
import Logging
import WeirCore
import WeirMQTT
import WeirTestSupport

/// The measurements of `weir-bench product`: each starts its own broker and daemon.
extension ProductBench {
    static let matched = "weir_rule_matched_total{rule="

    /// Events/s Weir processed of `file` (counted by `series`), with `rules` loaded.
    func processed(
        _ rig: ProductRig, name: String, rules: String, file: String, events: Int, mode: AckMode, series: String,
        poll: Double = 0.02, startTimeout: Double = 20
    ) async throws -> (rate: Double, rss: Int) {
        let port = freePort()
        let broker = try rig.broker("broker-\(name)", port: port)
        defer { broker.stop(signal: SIGKILL) }
        let daemon = try await rig.daemon(name, rules: rules, port: port, mode: mode, startTimeout: startTimeout)
        defer { daemon.process.stop(signal: SIGKILL) }
        // Idle RSS once loaded: the rule set is compiled before the daemon reports healthy.
        try await Task.sleep(for: .milliseconds(500))
        let rss = memoryKiB(pid: daemon.process.pid).rss
        let start = monotonicNanos()
        let feeder = try rig.feed(port: port, file: file, qos: mode.qos)
        defer { stopShell(feeder) }
        let result = rig.rate(from: start, expected: events, interval: poll) { scrapeSum(port: daemon.admin, prefix: series) ?? 0 }
        return (result.perSecond, rss)
    }

    // MARK: 1. Windows

    func windows(_ rig: ProductRig, mode: AckMode) async throws -> [Figure] {
        let events = quick ? 10_000 : 100_000
        func file(_ devices: Int) throws -> String {
            try rig.lines("win\(devices)", count: events, devices: devices) { 20 + Double($0 % 50) / 10 }
        }
        let plainRule = """
            name: plain
            sql: SELECT device, temp FROM "in/+/tele" WHERE temp >= 0
            actions: [ { log: { level: debug } } ]
            """
        func windowRule(_ name: String) -> String {
            """
            name: \(name)
            sql: SELECT device, avg(temp), max(temp), count(*) FROM "in/+/tele" GROUP BY device, TUMBLING(600s)
            actions: [ { log: { level: debug } } ]
            """
        }
        let plain = try await processed(
            rig, name: "plain-\(mode)", rules: plainRule, file: try file(10_000), events: events, mode: mode,
            series: Self.matched + #""plain"}"#)
        say("    plain filter rule: \(Int(plain.rate)) events/s")
        var figures: [Figure] = []
        for (devices, target) in [(10_000, 0.8), (100, 0.9)] {
            let window = try await processed(
                rig, name: "win\(devices)-\(mode)", rules: windowRule("win\(devices)"), file: try file(devices), events: events,
                mode: mode, series: Self.matched + #""win\#(devices)"}"#)
            say("    windowed rule, \(devices) devices: \(Int(window.rate)) events/s")
            figures.append(
                Figure(
                    key: "window\(devices)", name: "windowed rule, \(devices.grouped) groups / plain filter rule (events/s)",
                    mode: mode, value: window.rate, baseline: plain.rate, target: ">= \(target)", met: window.rate / plain.rate >= target))
        }
        return figures
    }

    // MARK: 2. Many rules on one topic, and 6. RSS per rule

    func ruleSets(_ rig: ProductRig, mode: AckMode) async throws -> [Figure] {
        let counts = quick ? [1, 1_000] : [1, 1_000, 10_000]
        var measured: [(rules: Int, rate: Double, rss: Int)] = []
        for n in counts {
            // Event seq matches exactly rule seq % n: one log action per event, whatever n.
            let events = quick ? 5_000 : (n == 1 ? 100_000 : n == 1_000 ? 20_000 : 3_000)
            let file = try rig.lines("rules\(n)", count: events, devices: 100) { Double($0 % n) + 0.5 }
            var yaml = "rules:\n"
            for i in 0..<n {
                yaml += "  - name: r\(i)\n    sql: SELECT device, temp FROM \"in/+/tele\" WHERE temp > \(i) AND temp <= \(i + 1)\n"
                yaml += "    actions: [ { log: { level: debug } } ]\n"
            }
            // /metrics lists every rule's series: poll it less often when there are many.
            let result = try await processed(
                rig, name: "rules\(n)-\(mode)", rules: yaml, file: file, events: events, mode: mode, series: "weir_rule_matched_total{",
                poll: n > 1 ? 0.25 : 0.02, startTimeout: 120)
            say(
                "    \(n) rule(s): \(Int(result.rate)) events/s = \(Int(result.rate * Double(n))) evaluations/s; idle RSS \(result.rss) KiB"
            )
            measured.append((n, result.rate, result.rss))
        }
        guard let one = measured.first else { return [] }
        var figures: [Figure] = []
        for m in measured.dropFirst() {
            let evaluations = m.rate * Double(m.rules)
            figures.append(
                Figure(
                    key: "rules\(m.rules)", name: "rule evaluations/s, \(m.rules.grouped) rules on one topic / 1 rule",
                    mode: mode, value: evaluations, baseline: one.rate, target: ">= 10 M/s", met: evaluations >= 10e6))
            let perRule = Double(m.rss - one.rss) * 1024 / Double(m.rules - 1)
            figures.append(
                Figure(
                    key: "rss\(m.rules)", name: "RSS per loaded rule: idle RSS KiB with \(m.rules.grouped) rules / with 1 rule",
                    mode: mode, value: Double(m.rss), baseline: Double(one.rss), target: "<= 2 KB per rule", met: perRule <= 2048,
                    ratioNote: "-> \(Figure.format(perRule)) B per rule"))
        }
        return figures
    }
}

/// One printed figure: its value, the baseline measured in the same run, and value / baseline.
struct Figure {
    var key: String
    var name: String
    var mode: AckMode
    var value: Double
    var baseline: Double
    var target: String
    var met: Bool
    var ratioNote = ""

    var ratio: Double { value / baseline }

    static func format(_ x: Double) -> String {
        guard x.isFinite else { return "n/a" }
        if abs(x) >= 100 { return Int(x.rounded()).grouped }
        return String(format: abs(x) >= 10 ? "%.1f" : "%.3f", x)
    }
}

extension Int {
    /// 10000 as "10,000".
    var grouped: String {
        let digits = Array(String(abs(self)))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return (self < 0 ? "-" : "") + out
    }
}
