import ArgumentParser
import Foundation
import Logging
import Synchronization
import WeirCore
import WeirMQTT
import WeirTestSupport
import WeirZstd

/// `mqtt.ack: durable` against `ack: receipt`, through the real `weir run` binary, a real mosquitto
/// and a second mosquitto as the cloud upstream: forward throughput at two broker inflight windows,
/// then the loss window of each mode under kill -9 at a fixed offered rate.
struct AckBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack", abstract: "Acknowledge after durable against on receipt: forward throughput and loss under kill -9.")

    @Option(help: "Path of the weir binary (default: next to this one).") var weir: String?
    @Option(help: "Events per throughput run.") var events = 100_000
    @Option(help: "Throughput runs per cell (the median is reported).") var runs = 3
    @Option(help: "Broker max_inflight_messages settings, comma-separated.") var inflight = "20,1000"
    /// With 5,000 outstanding the publisher itself took a full core and was the bottleneck here
    /// (7,500–14,000 events/s, growing with the run's length); 500 keeps it ahead of Weir.
    @Option(help: "QoS 1 publishes awaiting the broker's PUBACK at most (the publisher's pipeline).") var window = 500
    @Option(help: "Seconds a throughput run may take before it is cut short.") var timeout = 120.0
    @Option(help: "Offered rate of the loss runs (events/s).") var rate = 1_500
    @Option(help: "kill -9 per mode in the loss runs.") var kills = 5
    @Flag(help: "Skip the throughput table.") var skipThroughput = false
    @Flag(help: "Skip the loss-window runs.") var skipLoss = false

    static let forwardSeries = #"weir_actions_run_total{action="forward"}"#

    func validate() throws {
        guard events > 0, runs > 0, window > 0, rate > 0, kills > 0 else { throw ValidationError("counts must be positive") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .error
            return h
        }
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let setup = Setup(
            weir: weir ?? own.appendingPathComponent("weir").path,
            mosquitto: findExecutable(["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]) ?? "",
            perf: findExecutable(["/usr/bin/perf", "/usr/local/bin/perf"]),
            work: URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("weir-bench-ack-\(getpid())"))
        guard !setup.mosquitto.isEmpty else { throw ValidationError("mosquitto is needed (apt-get install mosquitto)") }
        try FileManager.default.createDirectory(at: setup.work, withIntermediateDirectories: true)
        say("weir-bench ack: \(events) events x \(runs) runs per cell, inflight \(inflight); loss: \(kills) kills at \(rate)/s per mode")
        say("(\(ProcessInfo.processInfo.activeProcessorCount) cores; work dir \(setup.work.path))")
        if !skipThroughput { try await throughputTable(setup) }
        if !skipLoss { try await lossTable(setup) }
        try? FileManager.default.removeItem(at: setup.work)
    }

    struct Setup {
        var weir: String
        var mosquitto: String
        var perf: String?
        var work: URL
    }

    // MARK: Throughput

    struct Cell {
        var rates: [Double] = []
        var publishRates: [Double] = []
        /// Summed over the runs: fsyncs, seconds counted, forwards in them, and CPU seconds of
        /// Weir and of the broker.
        var fsyncs = 0.0
        var seconds = 0.0
        var forwards = 0.0
        var weirCPU = 0.0
        var brokerCPU = 0.0
        var median: Double { rates.isEmpty ? .nan : rates.sorted()[rates.count / 2] }
    }

    func throughputTable(_ setup: Setup) async throws {
        let settings = inflight.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let cloudPort = freePort()
        let cloud = try startBroker(setup, name: "cloud-tp", port: cloudPort, inflight: 20)
        defer { cloud.stop(signal: SIGKILL) }
        var cells: [Int: [String: Cell]] = [:]
        for setting in settings {
            let port = freePort()
            let broker = try startBroker(setup, name: "local-\(setting)", port: port, inflight: setting)
            defer { broker.stop(signal: SIGKILL) }
            for mode in ["receipt", "durable"] {
                let cell = try await measureCell(
                    setup, port: port, brokerPID: broker.pid, cloudPort: cloudPort, inflight: setting, mode: mode)
                cells[setting, default: [:]][mode] = cell
                say(
                    "  inflight \(setting), \(mode): runs \(cell.rates.map { Int($0) }) events/s; "
                        + "publisher alone \(cell.publishRates.map { Int($0) }) events/s")
            }
            broker.stop()
        }
        say("")
        say("| max_inflight_messages | receipt, events/s | durable, events/s | durable / receipt |")
        say("| --- | --- | --- | --- |")
        for setting in settings {
            guard let r = cells[setting]?["receipt"], let d = cells[setting]?["durable"] else { continue }
            say("| \(setting) | \(Int(r.median)) | \(Int(d.median)) | \(String(format: "%.2f", d.median / r.median)) |")
        }
        say("")
        say("| max_inflight_messages | ack | fsyncs/s | events per fsync | CPU, weir / broker |")
        say("| --- | --- | --- | --- | --- |")
        for setting in settings {
            for mode in ["receipt", "durable"] {
                guard let c = cells[setting]?[mode], c.seconds > 0 else { continue }
                let perFsync = c.fsyncs > 0 ? String(format: "%.1f", c.forwards / c.fsyncs) : "n/a"
                say(
                    "| \(setting) | \(mode) | \(Int(c.fsyncs / c.seconds)) | \(perFsync) | "
                        + "\(Int(c.weirCPU / c.seconds * 100)) % / \(Int(c.brokerCPU / c.seconds * 100)) % |")
            }
        }
        if setup.perf == nil { say("(perf not found: no fsync counts)") }
    }

    /// One daemon with a fresh state dir, `runs` runs of `events` each.
    func measureCell(_ setup: Setup, port: Int, brokerPID: Int32, cloudPort: Int, inflight: Int, mode: String) async throws -> Cell {
        let name = "tp-\(inflight)-\(mode)"
        let admin = freePort()
        let config = try writeConfig(setup, name: name, port: port, cloudPort: cloudPort, admin: admin, ack: mode)
        let daemon = try await startWeir(setup, config: config, admin: admin, log: name)
        defer { daemon.stop(signal: SIGKILL) }
        // Healthy means connected; the subscription of the persistent session follows at once.
        try await Task.sleep(for: .milliseconds(300))
        let publisher = try MQTTClient(
            configuration: MQTTConfiguration(port: port, clientID: "bench-pub-\(name)", cleanSession: true, maxInflight: window),
            logger: Logger(label: "bench"))
        publisher.start()
        await publisher.waitUntilReady()
        defer { publisher.shutdown() }
        var cell = Cell()
        for run in 0..<runs {
            // Fsyncs of the whole daemon, from the syscall tracepoints (cheap, unlike strace).
            let perfOutput = setup.work.appendingPathComponent("perf-\(name)-\(run).txt").path
            let perf = setup.perf.flatMap { perf in
                try? ChildProcess(
                    perf, ["stat", "-x", ",", "-e", "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync", "-p", "\(daemon.pid)"],
                    output: perfOutput)
            }
            if perf != nil { try await Task.sleep(for: .milliseconds(300)) }
            let counted = (at: monotonicNanos(), weir: cpuSeconds(daemon.pid), broker: cpuSeconds(brokerPID))
            let before = scrapeMetric(port: admin, series: Self.forwardSeries) ?? 0
            guard let result = try await forwardRun(publisher: publisher, admin: admin, before: before) else {
                perf?.stop(signal: SIGINT)
                say("warning: \(name): weir forwarded fewer than \(events) events within \(Int(timeout)) s; cell cut short")
                break
            }
            cell.weirCPU += cpuSeconds(daemon.pid) - counted.weir
            cell.brokerCPU += cpuSeconds(brokerPID) - counted.broker
            cell.seconds += Double(monotonicNanos() - counted.at) / 1e9
            cell.forwards += (scrapeMetric(port: admin, series: Self.forwardSeries) ?? before) - before
            if let perf {
                perf.stop(signal: SIGINT)
                cell.fsyncs += perfCount(perfOutput, "sys_enter_fdatasync") + perfCount(perfOutput, "sys_enter_fsync")
            }
            cell.rates.append(result.rate)
            cell.publishRates.append(result.publishRate)
        }
        daemon.stop()
        return cell
    }

    /// Publishes `events` at QoS 1 as fast as the broker acknowledges them (at most `window`
    /// outstanding) and returns events / (moment Weir's forward counter reached `events` - first
    /// publish), and the publisher's own rate (until the broker acknowledged the last one).
    func forwardRun(publisher: MQTTClient, admin: Int, before: Double) async throws -> (rate: Double, publishRate: Double)? {
        var latches: [AsyncLatch<Void>] = []
        latches.reserveCapacity(events)
        var acknowledged = 0
        let start = monotonicNanos()
        for seq in 0..<events {
            let payload = Array(#"{"device":"dev-0042","seq":\#(seq),"temp":71.5}"#.utf8)
            while true {
                if latches.count - acknowledged >= window {
                    try? await latches[acknowledged].value
                    acknowledged += 1
                } else if let latch = try? publisher.enqueuePublish(topic: "bench/in", payload: payload, qos: 1) {
                    latches.append(latch)
                    break
                } else {
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
        }
        while acknowledged < latches.count {
            try? await latches[acknowledged].value
            acknowledged += 1
        }
        let published = monotonicNanos()
        let deadline = start + UInt64(timeout * 1e9)
        while monotonicNanos() < deadline {
            let done = (scrapeMetric(port: admin, series: Self.forwardSeries) ?? before) - before
            if done >= Double(events) {
                let now = monotonicNanos()
                return (Double(events) / (Double(now - start) / 1e9), Double(events) / (Double(published - start) / 1e9))
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// The count of `event` in a `perf stat -x ,` report.
    func perfCount(_ path: String, _ event: String) -> Double {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            if fields.count > 2, fields[2].hasSuffix(event) { return Double(fields[0]) ?? 0 }
        }
        return 0
    }

    /// User + system CPU seconds of a process so far, from /proc/PID/stat.
    func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")")
        else { return 0 }
        // After the command name: state is field 3, utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    // MARK: Loss window

    func lossTable(_ setup: Setup) async throws {
        var results: [(mode: String, loss: Loss)] = []
        for mode in ["receipt", "durable"] {
            let loss = try await lossRun(setup, mode: mode)
            say(
                "  loss, \(mode): \(loss.accepted) events accepted by the broker, \(loss.lost.reduce(0, +)) never reached the cloud; "
                    + "per kill \(loss.lost); offered \(Int(loss.offered))/s\(loss.drained ? "" : " (drain timed out)")")
            results.append((mode, loss))
        }
        say("")
        say("| ack | kills | accepted by the broker | lost, total | lost per kill, min / median / max | same, ms of traffic at \(rate)/s |")
        say("| --- | --- | --- | --- | --- | --- |")
        for (mode, loss) in results {
            let sorted = loss.lost.sorted()
            guard let low = sorted.first, let high = sorted.last else { continue }
            let median = sorted[sorted.count / 2]
            func ms(_ n: Int) -> String { String(format: "%.0f", Double(n) / Double(rate) * 1000) }
            say(
                "| \(mode) | \(sorted.count) | \(loss.accepted) | \(sorted.reduce(0, +)) | \(low) / \(median) / \(high) | "
                    + "\(ms(low)) / \(ms(median)) / \(ms(high)) |")
        }
    }

    struct Loss {
        var accepted: Int
        /// Events lost, attributed to the kill that preceded their publication's end.
        var lost: [Int]
        var offered: Double
        var drained: Bool
    }

    /// kill -9 of Weir `kills` times at random moments under a paced QoS 1 load with the cloud
    /// down; then the cloud comes up, Weir drains, and every event the broker acknowledged to the
    /// publisher that never reached the cloud is lost.
    func lossRun(_ setup: Setup, mode: String) async throws -> Loss {
        let name = "loss-\(mode)"
        let port = freePort()
        let cloudPort = freePort()
        let admin = freePort()
        let broker = try startBroker(setup, name: "local-\(name)", port: port, inflight: 20)
        defer { broker.stop(signal: SIGKILL) }
        let config = try writeConfig(setup, name: name, port: port, cloudPort: cloudPort, admin: admin, ack: mode)
        func start(_ n: Int) async throws -> ChildProcess { try await startWeir(setup, config: config, admin: admin, log: "\(name)-\(n)") }
        var daemon = try await start(0)
        try await Task.sleep(for: .milliseconds(300))
        // Published only once Weir's persistent session has subscribed: before that the broker keeps nothing for it.
        let load = try await PacedLoad(
            port: port, clientID: "bench-load-\(getpid())", perSecond: rate, topic: { _ in "bench/in" },
            payload: { Array(#"{"device":"d\#($0 % 10)","seq":\#($0),"temp":20.5}"#.utf8) })
        var cuts: [Int] = []
        var generator = SystemRandomNumberGenerator()
        for kill in 0..<kills {
            // A random moment: the fault being injected, not a wait for a condition.
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...1500, using: &generator)))
            daemon.stop(signal: SIGKILL)
            cuts.append(load.sentCount)
            if kill < kills - 1 { daemon = try await start(kill + 1) }
        }
        let offered = await load.stop()
        let accepted = load.acceptedSeqs

        let cloud = try startBroker(setup, name: "cloud-\(name)", port: cloudPort, inflight: 1000)
        defer { cloud.stop(signal: SIGKILL) }
        let forwarded = Mutex<Set<Int>>([])
        let recorder = try MQTTClient(
            configuration: MQTTConfiguration(port: cloudPort, clientID: "bench-cloud-\(mode)", cleanSession: true),
            subscribeQoS: 1, logger: Logger(label: "bench"),
            onMessage: { message in
                guard let raw = try? Zstd.decompress(message.payload, maxSize: 16 << 20),
                    case .array(let batch)? = try? JSONParser.parse(raw)
                else { return }
                let seqs = batch.compactMap { $0["data"]?["seq"]?.intValue }
                forwarded.withLock { $0.formUnion(seqs) }
            })
        try recorder.setSubscriptions(["weir/#"])
        recorder.start()
        await recorder.waitUntilReady()
        defer { recorder.shutdown() }
        let final = try await start(kills + 1)
        defer { final.stop() }
        // Drained: everything arrived, or nothing new for 3 s with the outbox empty.
        var drained = false
        var last = (count: -1, at: monotonicNanos())
        let deadline = monotonicNanos() + 90_000_000_000
        while monotonicNanos() < deadline {
            let have = forwarded.withLock { $0 }
            if have.isSuperset(of: accepted) {
                drained = true
                break
            }
            if have.count != last.count {
                last = (have.count, monotonicNanos())
            } else if monotonicNanos() - last.at > 3_000_000_000,
                scrapeMetric(port: admin, series: #"weir_outbox_depth{upstream="cloud"}"#) == 0
            {
                drained = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let missing = accepted.subtracting(forwarded.withLock { $0 })
        var lost = [Int](repeating: 0, count: kills)
        for seq in missing {
            // The first kill at which the event had been published; a later loss goes to the last.
            lost[cuts.firstIndex { seq <= $0 } ?? kills - 1] += 1
        }
        return Loss(accepted: accepted.count, lost: lost, offered: offered, drained: drained)
    }

    // MARK: Processes and configuration

    func startBroker(_ setup: Setup, name: String, port: Int, inflight: Int) throws -> ChildProcess {
        try startMosquitto(setup.mosquitto, work: setup.work, name: name, port: port, inflight: inflight)
    }

    /// Weir's configuration and the forward rule; a fresh state dir per name. Returns the config path.
    func writeConfig(_ setup: Setup, name: String, port: Int, cloudPort: Int, admin: Int, ack: String) throws -> String {
        let rules = setup.work.appendingPathComponent("rules-\(name)")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try """
        name: fwd
        sql: SELECT device, seq, temp FROM "bench/in" WHERE temp >= 0
        actions:
          - forward: cloud
        """.write(to: rules.appendingPathComponent("fwd.yaml"), atomically: true, encoding: .utf8)
        let path = setup.work.appendingPathComponent("\(name).yaml").path
        try """
        gateway_id: bench
        rules_dir: \(rules.path)
        state_dir: \(setup.work.appendingPathComponent("state-\(name)").path)
        log_level: warning
        mqtt: { host: 127.0.0.1, port: \(port), client_id: weir-\(name), qos: 1, clean_session: false, ack: \(ack) }
        admin: { listen: 127.0.0.1:\(admin) }
        rules_watch_interval: 0s
        upstreams:
          cloud:
            mqtt: { host: 127.0.0.1, port: \(cloudPort) }
            batch: { max_events: 500, max_delay: 20ms }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func startWeir(_ setup: Setup, config: String, admin: Int, log: String) async throws -> ChildProcess {
        try await startDaemon(setup.weir, work: setup.work, config: config, admin: admin, log: log)
    }
}
