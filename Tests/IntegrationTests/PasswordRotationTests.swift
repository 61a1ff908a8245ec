import Foundation
import Synchronization
import Testing
import WeirCore
import WeirTestSupport

/// The shipped password-rotation example (rules/examples/password-rotation), run as shipped:
/// scheduled, chained through emitted events, with real processes and its fake target.
@Suite(.serialized) struct PasswordRotationTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../rules/examples/password-rotation").standardizedFileURL
    static let day: Int64 = 86_400_000

    func read(_ path: URL) -> String {
        ((try? String(contentsOf: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func rotatesEverySixtyDaysAndKeepsTheOldCredentialWhenVerificationFails() async throws {
        let broker = try MosquittoBroker()
        let rules = try makeTemporaryDirectory(prefix: "weir-rotation-rules")
        let state = try makeTemporaryDirectory(prefix: "weir-rotation-state")
        try FileManager.default.removeItem(at: rules)
        try FileManager.default.copyItem(at: Self.example, to: rules)
        let functions = state.appendingPathComponent("functions")
        let vault = functions.appendingPathComponent("rotation/vault/current")
        let target = functions.appendingPathComponent("fake-target/password")
        let history = functions.appendingPathComponent("rotation/history")
        let clock = Atomic<Int64>(1_767_225_600_000)  // 2026-01-01

        let recorder = try await Recorder(broker: broker, filters: ["weir/rotation/#", "alerts/rotation/#"])
        let weir = try await DaemonHarness(
            broker: broker, rules: [:], rulesDir: rules, stateDir: state, clock: { clock.load(ordering: .relaxed) },
            scheduleInterval: .milliseconds(20))
        #expect(
            !weir.daemon.rules.current.topicFilters.contains { $0.hasPrefix("$weir/") }, "internal steps are not subscribed on the broker")

        // First start: the schedule never ran, so it runs now; every step succeeds.
        #expect(await eventually(timeout: .seconds(20)) { recorder.count == 1 })
        #expect(recorder.log.entries.withLock { $0.first?.topic } == "weir/rotation/router-1/rotated")
        #expect(await eventually { read(history).hasSuffix("rotated") })
        let first = read(vault)
        #expect(first.count >= 24 && first != "factory-default", "a fresh credential is in the vault")
        #expect(read(target) == first, "and on the target")
        #expect(!recorder.log.entries.withLock { $0.map(\.payload).joined() }.contains(first), "no secret in any published event")

        // 59 days on nothing happens; then the target starts refusing new passwords after a change.
        clock.store(clock.load(ordering: .relaxed) + 59 * Self.day, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(300))
        #expect(recorder.count == 1)
        try "".write(to: functions.appendingPathComponent("fake-target/break-login"), atomically: true, encoding: .utf8)
        clock.store(clock.load(ordering: .relaxed) + 1 * Self.day, ordering: .relaxed)
        #expect(await eventually(timeout: .seconds(20)) { recorder.count == 2 })
        #expect(recorder.log.entries.withLock { $0.last?.topic } == "alerts/rotation/router-1", "operators are notified")
        #expect(await eventually { read(history).hasSuffix("kept the old credential") })
        #expect(read(vault) == first, "the old credential is kept")
        #expect(read(target) == first, "and the target is back on it")

        // Fixed: the next slot rotates again.
        try FileManager.default.removeItem(at: functions.appendingPathComponent("fake-target/break-login"))
        clock.store(clock.load(ordering: .relaxed) + 60 * Self.day, ordering: .relaxed)
        #expect(await eventually(timeout: .seconds(20)) { recorder.count == 3 })
        #expect(recorder.log.entries.withLock { $0.last?.topic } == "weir/rotation/router-1/rotated")
        #expect(await eventually { read(vault) != first && read(target) == read(vault) })
        #expect(weir.metric(#"weir_schedule_runs_total{rule="password-rotation"}"#) == 3)
        #expect(weir.metric(#"weir_function_dead_letters_total{function="rotation-change"}"#) == 0)
        recorder.client.shutdown()
        try await weir.stop()
    }
}
