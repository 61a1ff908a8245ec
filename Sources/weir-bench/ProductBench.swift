import ArgumentParser
import Foundation
import Logging
import WeirCore
import WeirTestSupport

/// The product path (issue 10): the real `weir run` against a real mosquitto on loopback (a second
/// one as the cloud), fed by `mosquitto_pub -l`, every figure a ratio against a baseline measured
/// in the same run. What `weir-bench` runs without a subcommand.
struct ProductBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "product",
        abstract: "Through the daemon (the default): windows, 1,000 rules, end to end, backlog drain, p99, RSS per rule.")

    @Option(help: "Path of the weir binary (a release build).") var weir = ".build/release/weir"
    @Flag(help: "Smaller counts and one end-to-end run: a smoke test of the whole benchmark.") var quick = false
    @Flag(help: "Print the BENCHMARKS.md table rows at the end.") var markdown = false
    @Option(help: "End-to-end runs per path (the median is reported; default 3, 1 with --quick).") var e2eRuns: Int?
    @Option(help: "Seconds a measurement may take before it is cut short (its rate then covers what was done).")
    var timeout = 40.0
    @Option(help: "Figures to measure, comma-separated: windows, rules, e2e, backlog, latency, lookup, rbe.")
    var only = "windows,rules,e2e,backlog,latency,lookup,rbe"
    @Flag(help: "Skip the QoS 1 / ack: durable runs.") var receiptOnly = false

    var runs: Int { e2eRuns ?? (quick ? 1 : 3) }

    func validate() throws {
        guard runs > 0, timeout > 0 else { throw ValidationError("--e2e-runs and --timeout must be positive") }
        guard FileManager.default.isExecutableFile(atPath: weir) else {
            throw ValidationError("no weir binary at \(weir): run `swift build -c release` first, or pass --weir")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .error
            return h
        }
        guard let mosquitto = findExecutable(["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]),
            let pub = findExecutable(["/usr/bin/mosquitto_pub"]), let sub = findExecutable(["/usr/bin/mosquitto_sub"])
        else {
            throw ValidationError("mosquitto, mosquitto_pub and mosquitto_sub are needed (apt-get install mosquitto mosquitto-clients)")
        }
        let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("weir-bench-product-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let rig = ProductRig(
            weir: URL(fileURLWithPath: weir).standardizedFileURL.path, mosquitto: mosquitto, mosquittoPub: pub, mosquittoSub: sub,
            work: work, timeout: timeout)
        let parts = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let modes = receiptOnly ? [AckMode.receipt] : AckMode.allCases
        say(
            "weir-bench product\(quick ? " --quick" : ""): \(rig.weir); \(ProcessInfo.processInfo.activeProcessorCount) cores; "
                + "work dir \(work.path)"
        )

        var figures: [Figure] = []
        func section(_ part: String, _ title: String, _ body: (AckMode) async throws -> [Figure]) async throws {
            guard parts.contains(part) else { return }
            for mode in modes {
                say("\(title) [\(mode.label)]")
                let new = try await body(mode)
                for f in new { say("  " + line(f)) }
                figures += new
            }
        }
        try await section("windows", "1. windowed rule against a plain filter rule, through the daemon") {
            try await windows(rig, mode: $0)
        }
        try await section("rules", "2. many rules on one topic; 6. RSS per loaded rule") { try await ruleSets(rig, mode: $0) }
        if parts.contains("e2e") {
            let relay = try compileRelay(work)
            try await section("e2e", "3. publish rule end to end, consumer counts delivered events") {
                try await endToEnd(rig, relay: relay, mode: $0)
            }
        }
        if parts.contains("backlog") {
            say("4. backlog drain to a real broker [QoS 1 input, ack: receipt]")
            let new = try await backlog(rig)
            for f in new { say("  " + line(f)) }
            figures += new
        }
        try await section("latency", "5. inside-Weir latency at 10k events/s, publish rule") { try await latency(rig, mode: $0) }
        if parts.contains("rbe") {
            say("8. report by exception: 1,000 devices at 1 Hz (a slow random walk), through the daemon")
            let new = try await reportByException(rig)
            for f in new { say("  " + line(f)) }
            figures += new
        }
        try await section("lookup", "7. a rule with lookups against the same rule without; memory per table row") {
            try await lookups(rig, mode: $0)
        }

        if markdown { printMarkdown(figures) }
        try? FileManager.default.removeItem(at: work)
    }

    /// One figure as a line: the figure, the baseline, the ratio, the target.
    func line(_ f: Figure) -> String {
        let note = f.ratioNote.isEmpty ? "" : " \(f.ratioNote)"
        return "\(f.name): \(Figure.format(f.value)); baseline \(Figure.format(f.baseline)); ratio \(Figure.format(f.ratio))\(note); "
            + "target \(f.target)\(f.target == "report" ? "" : f.met ? " (met)" : " (NOT met)")"
    }

    /// The BENCHMARKS.md rows: one per figure, the receipt and durable runs side by side.
    func printMarkdown(_ figures: [Figure]) {
        say("")
        say("| figure | \(AckMode.receipt.label): figure / baseline = ratio | \(AckMode.durable.label) | target |")
        say("| --- | --- | --- | --- |")
        var keys: [String] = []
        for f in figures where !keys.contains(f.key) { keys.append(f.key) }
        for key in keys {
            let row = figures.filter { $0.key == key }
            guard let first = row.first else { continue }
            func cell(_ mode: AckMode) -> String {
                guard let f = row.first(where: { $0.mode == mode }) else { return "not run" }
                let mark = f.target == "report" ? "" : f.met ? " (met)" : " (not met)"
                let note = f.ratioNote.isEmpty ? "" : " \(f.ratioNote)"
                return "\(Figure.format(f.value)) / \(Figure.format(f.baseline)) = **\(Figure.format(f.ratio))**\(note)\(mark)"
            }
            say("| \(first.name.replacingOccurrences(of: "|", with: "\\|")) | \(cell(.receipt)) | \(cell(.durable)) | \(first.target) |")
        }
    }

    /// Compiles the zero-work libmosquitto relay (`relaySource`) into the work directory.
    func compileRelay(_ work: URL) throws -> String {
        let source = work.appendingPathComponent("relay.c").path
        let binary = work.appendingPathComponent("relay").path
        try relaySource.write(toFile: source, atomically: true, encoding: .utf8)
        guard let cc = findExecutable(["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"]) else { throw ValidationError("cc is needed") }
        let compile = try ChildProcess(
            cc, ["-O2", "-o", binary, source, "-lmosquitto"], output: work.appendingPathComponent("cc.log").path)
        compile.waitForExit(timeout: 60)
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchFailure("cc failed to build the relay; see \(work.path)/cc.log (libmosquitto-dev is needed)")
        }
        return binary
    }
}
