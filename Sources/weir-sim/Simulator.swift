import ArgumentParser
import Foundation
import Logging
import WeirCore
import WeirMQTT

/// Device simulator and load generator: many devices publishing realistic telemetry.
@main
struct Simulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir-sim",
        abstract: "Publish simulated device telemetry to an MQTT broker (demo and load generator).")

    @Option(help: "Broker host.") var host = "127.0.0.1"
    @Option(help: "Broker port.") var port = 1883
    @Option(help: "Number of simulated devices.") var devices = 50
    @Option(help: "Number of sites the devices are spread over.") var sites = 3
    @Option(help: "Total messages per second across all devices.") var rate = 20.0
    @Option(help: "Stop after this many seconds (0: run until interrupted).") var duration = 0.0
    @Option(help: "Stop after this many messages (0: no limit).") var count = 0
    @Option(help: "QoS of published messages.") var qos = 0
    @Option(help: "Topic template; {site} and {device} are replaced.") var topic = "sensors/{site}/telemetry"
    @Flag(help: "Embed the monotonic send time (ns) as field 'sent_ns', for latency measurement.") var stamp = false
    @Flag(help: "Print a line per second with the number sent.") var progress = false

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: host, port: port, clientID: "weir-sim-\(getpid())", cleanSession: true, maxInflight: 1000),
            logger: Logger(label: "weir-sim"))
        client.start()
        await client.waitUntilReady()
        var generator = SystemRandomNumberGenerator()
        let deviceIDs = (0..<devices).map { String(format: "dev-%04d", $0) }
        var baseline = deviceIDs.map { _ in Double.random(in: 55...75, using: &generator) }
        // Batteries start anywhere, so a few devices are already low when the demo begins.
        var battery = deviceIDs.map { _ in Double.random(in: 5...100, using: &generator) }
        let interval = 1.0 / max(rate, 0.001)
        let start = monotonicNanos()
        var sent = 0
        var lastReport = start
        while (count == 0 || sent < count) && (duration == 0 || Double(monotonicNanos() - start) / 1e9 < duration) {
            let index = sent % devices
            // A random walk with occasional spikes, so overheat rules fire now and then.
            baseline[index] += Double.random(in: -1.5...1.5, using: &generator)
            baseline[index] = min(max(baseline[index], 40), 95)
            let spike = Double.random(in: 0..<1, using: &generator) < 0.03 ? Double.random(in: 10...25, using: &generator) : 0
            battery[index] = max(battery[index] - 0.05, 0)
            let site = "site-\(index % max(sites, 1) + 1)"
            var fields: [(String, JSONValue)] = [
                ("device", .string(deviceIDs[index])),
                ("temp", .double((baseline[index] + spike).rounded(toPlaces: 1))),
                ("humidity", .double(Double.random(in: 30...60, using: &generator).rounded(toPlaces: 1))),
                ("battery", .int(Int64(battery[index].rounded()))),
                ("ts", .int(currentTimeMillis())),
            ]
            if stamp { fields.append(("sent_ns", .int(Int64(monotonicNanos())))) }
            let topicName = topic.replacingOccurrences(of: "{site}", with: site).replacingOccurrences(
                of: "{device}", with: deviceIDs[index])
            try await client.publish(topic: topicName, payload: JSONWriter.bytes(.object(JSONObject(fields))), qos: qos)
            sent += 1
            let due = start + UInt64(Double(sent) * interval * 1e9)
            let now = monotonicNanos()
            // Sleep only when ahead by more than a millisecond: finer sleeps cost more than they pace.
            if due > now + 1_000_000 { try await Task.sleep(for: .nanoseconds(due - now)) }
            if progress, now - lastReport >= 1_000_000_000 {
                print("weir-sim: \(sent) messages sent")
                lastReport = now
            }
        }
        // Let QoS 0 messages leave the socket before disconnecting.
        try await Task.sleep(for: .milliseconds(200))
        client.shutdown()
        print("weir-sim: sent \(sent) messages")
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let factor = pow(10.0, Double(places))
        return (self * factor).rounded() / factor
    }
}
