import ArgumentParser
import Foundation
import Logging
import Metrics
import Synchronization
import WeirActions
import WeirCore
import WeirRules

/// Functions: invocations per second and latency, one process per invocation (`mode: oneshot`)
/// against long-lived workers (`mode: worker`) running the same code, in one run; and the cost of
/// a worker's cold start.
struct FunctionBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions",
        abstract: "Component: exec functions driven directly: oneshot against worker mode, throughput, latency, cold start.")

    @Option(help: "Invocations per measurement.") var invocations = 2_000
    @Option(help: "Invocations at once for the throughput figure (the function's concurrency).") var concurrency = 2

    /// The same work in both modes: parse the row, add a field, print it.
    static let pythonOneshot = "import sys, json\nrow = json.loads(sys.stdin.readline())\nrow['seen'] = True\nprint(json.dumps(row))\n"
    static let pythonWorker = """
        import sys, json
        for line in sys.stdin:
            request = json.loads(line)
            row = request['row']
            row['seen'] = True
            sys.stdout.write(json.dumps({'id': request['id'], 'output': [row]}) + '\\n')
            sys.stdout.flush()
        """
    static let shOneshot = #"IFS= read -r line; printf '%s\n' "$line""#
    static let shWorker =
        #"while IFS= read -r line; do id=${line#\{\"id\":}; id=${id%%,*}; rest=${line#*\"row\":}; "#
        + #"printf '{"id":%s,"output":[%s]}\n' "$id" "${rest%\}}"; done"#

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { throw ValidationError("/usr/bin/python3 is needed") }
        print(
            "component: exec functions driven directly, not through the daemon: \(invocations) invocations each; "
                + "throughput at concurrency \(concurrency), latency at concurrency 1"
        )
        print("(\(ProcessInfo.processInfo.activeProcessorCount) cores)\n")
        print(pad(["function", "mode", "invocations/s", "p50", "p99", "first call"]))
        var python: [String: Figures] = [:]
        for (language, oneshot, worker) in [
            (
                "python3", FunctionSpec.Program(command: ["/usr/bin/python3", "-c", Self.pythonOneshot]),
                FunctionSpec.Program(command: ["/usr/bin/python3", "-u", "-c", Self.pythonWorker])
            ),
            (
                "sh", FunctionSpec.Program(command: ["/bin/sh", "-c", Self.shOneshot]),
                FunctionSpec.Program(command: ["/bin/sh", "-c", Self.shWorker])
            ),
        ] {
            for (mode, runtime) in [("oneshot", FunctionSpec.Runtime.exec(oneshot)), ("worker", .worker(worker))] {
                let figures = try await measure(runtime)
                if language == "python3" { python[mode] = figures }
                print(pad([language, mode, String(format: "%.0f", figures.rate), ms(figures.p50), ms(figures.p99), ms(figures.first)]))
            }
        }
        if let oneshot = python["oneshot"], let worker = python["worker"] {
            print(
                "\npython3, worker against oneshot: \(String(format: "%.1f", worker.rate / oneshot.rate))x the invocations/s, "
                    + "p50 \(String(format: "%.1f", oneshot.p50 / worker.p50))x lower")
            print(
                "cold start (a worker's first call, process start included) against its warm p50: \(ms(worker.first)) vs \(ms(worker.p50))")
        }
    }

    struct Figures {
        var rate: Double
        var p50: Double
        var p99: Double
        var first: Double
    }

    /// Latency at concurrency 1 (the first call separately: a worker starts then), then throughput.
    func measure(_ runtime: FunctionSpec.Runtime) async throws -> Figures {
        let spec = FunctionSpec(
            name: "bench", runtime: runtime, concurrency: concurrency, location: SourceLocation(file: "bench", line: 1, column: 1))
        let runner = FunctionRunner(
            lookup: { _ in spec }, logger: Logger(label: "bench"), metricsFactory: NOOPMetricsHandler.instance, deadLetter: { _ in })
        let row: JSONObject = ["device": "dev-1", "temp": 81.5, "site": "site-1"]
        func once() async throws -> Double {
            let start = monotonicNanos()
            let output = try await runner.call(
                "bench", Invocation(rule: "bench", action: .call(function: "bench"), row: row, topic: "t", receivedAt: 0))
            guard output.count == 1 else { throw ValidationError("unexpected output \(output)") }
            return Double(monotonicNanos() - start) / 1e6
        }
        let first = try await once()
        var latencies: [Double] = []
        for _ in 0..<min(invocations, 1_000) { latencies.append(try await once()) }
        latencies.sort()
        let start = monotonicNanos()
        let perTask = invocations / concurrency
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask { for _ in 0..<perTask { _ = try await once() } }
            }
            try await group.waitForAll()
        }
        let seconds = Double(monotonicNanos() - start) / 1e9
        await runner.shutdown()
        return Figures(
            rate: Double(perTask * concurrency) / seconds, p50: latencies[latencies.count / 2], p99: latencies[latencies.count * 99 / 100],
            first: first)
    }

    func ms(_ value: Double) -> String { value < 1 ? String(format: "%.2f ms", value) : String(format: "%.1f ms", value) }
    func pad(_ cells: [String]) -> String { cells.map { $0.padding(toLength: 15, withPad: " ", startingAt: 0) }.joined() }
}
