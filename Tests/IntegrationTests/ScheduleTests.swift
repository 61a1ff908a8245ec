import Foundation
import Synchronization
import Testing
import WeirCore
import WeirTestSupport

/// Scheduled rules through the daemon, on an injected clock, with real processes.
@Suite(.serialized) struct ScheduleTests {
    static let day: Int64 = 86_400_000
    /// 2026-01-01T00:00:00Z
    static let start: Int64 = 1_767_225_600_000

    /// A function that appends its row's `scheduled_at` to a file.
    func recordingRules(schedule: String, log: String, dir: URL) throws -> String {
        let path = dir.appendingPathComponent("record.sh").path
        try #"#!/bin/sh\#nsed 's/.*"scheduled_at":"\([^"]*\)".*/\1/' >>"$RUNS"\#n"#.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return """
            functions:
              - name: record
                exec: { command: ["\(path)"], env: { RUNS: "\(log)" } }
            rules:
              - name: rotate
                schedule: "\(schedule)"
                actions:
                  - call: record
            """
    }

    func runs(_ log: String) -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func intervalRunsAtFirstStartThenEveryIntervalAndSurvivesRestarts() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-sched")
        let state = try makeTemporaryDirectory(prefix: "weir-sched-state")
        let log = dir.appendingPathComponent("runs.log").path
        let rules = try recordingRules(schedule: "every 60d", log: log, dir: dir)
        let clock = Atomic<Int64>(Self.start)
        let now: @Sendable () -> Int64 = { clock.load(ordering: .relaxed) }

        var weir = try await DaemonHarness(
            broker: broker, rules: ["s.yaml": rules], stateDir: state, clock: now, scheduleInterval: .milliseconds(20))
        #expect(await eventually { runs(log).count == 1 }, "never ran before: runs at first start")
        #expect(runs(log) == ["2026-01-01T00:00:00.000Z"])
        clock.store(Self.start + 59 * Self.day, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(300))
        #expect(runs(log).count == 1, "not due before 60 days")
        clock.store(Self.start + 60 * Self.day, ordering: .relaxed)
        #expect(await eventually { runs(log).count == 2 })
        #expect(runs(log).last == "2026-03-02T00:00:00.000Z")
        #expect(weir.metric(#"weir_schedule_runs_total{rule="rotate"}"#) == 2)
        // 60 days after the run at day 60, in seconds.
        #expect(
            await eventually {
                weir.metric(#"weir_schedule_next_run_timestamp_seconds{rule="rotate"}"#) == Double(Self.start + 120 * Self.day) / 1000
            })
        try await weir.stop()

        // A restart before the next slot does not run it again.
        clock.store(Self.start + 61 * Self.day, ordering: .relaxed)
        weir = try await DaemonHarness(
            broker: broker, rules: [:], rulesDir: weir.rulesDir, stateDir: state, clock: now, scheduleInterval: .milliseconds(20))
        try await Task.sleep(for: .milliseconds(300))
        #expect(runs(log).count == 2, "the last run is remembered across a restart")
        try await weir.stop()

        // Down across several slots: the missed run happens once at start, not once per slot.
        clock.store(Self.start + 400 * Self.day, ordering: .relaxed)
        weir = try await DaemonHarness(
            broker: broker, rules: [:], rulesDir: weir.rulesDir, stateDir: state, clock: now, scheduleInterval: .milliseconds(20))
        #expect(await eventually { runs(log).count == 3 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(runs(log).count == 3, "one catch-up run, not one per missed slot")
        #expect(runs(log).last == "2026-05-01T00:00:00.000Z", "scheduled_at names the slot that was missed")
        try await weir.stop()

        // What an operator sees: the last run (the catch-up, at day 400) and the next one.
        let config = dir.appendingPathComponent("weir.yaml")
        try "gateway_id: t\nrules_dir: \(weir.rulesDir.path)\nstate_dir: \(state.path)\n".write(
            to: config, atomically: true, encoding: .utf8)
        let listed = try runWeir(["schedule", "list", "--config", config.path], in: dir)
        #expect(listed.status == 0)
        #expect(listed.output.contains("rotate") && listed.output.contains("every 60d"), "\(listed.output)")
        #expect(listed.output.contains("2027-02-05T00:00:00.000Z"), "last run at day 400: \(listed.output)")
        // (The next run is computed against the real clock here, which is before that injected run.)
        #expect(!listed.output.contains("never"), "\(listed.output)")
    }

    @Test func cronRunsAtItsMinuteInUTC() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-sched")
        let log = dir.appendingPathComponent("runs.log").path
        let rules = try recordingRules(schedule: "0 3 * * *", log: log, dir: dir)
        let clock = Atomic<Int64>(Self.start + 2 * 3_600_000 + 59 * 60_000)  // 02:59
        let weir = try await DaemonHarness(
            broker: broker, rules: ["s.yaml": rules], clock: { clock.load(ordering: .relaxed) }, scheduleInterval: .milliseconds(20))
        try await Task.sleep(for: .milliseconds(300))
        #expect(runs(log).isEmpty, "a cron schedule waits for its minute")
        clock.store(Self.start + 3 * 3_600_000 + 30_000, ordering: .relaxed)
        #expect(await eventually { runs(log).count == 1 })
        #expect(runs(log) == ["2026-01-01T03:00:00.000Z"])
        clock.store(Self.start + Self.day + 3 * 3_600_000, ordering: .relaxed)
        #expect(await eventually { runs(log).count == 2 })
        #expect(runs(log).last == "2026-01-02T03:00:00.000Z")
        try await weir.stop()
    }
}
