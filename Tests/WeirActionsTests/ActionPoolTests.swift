import Logging
import Metrics
import Synchronization
import Testing
import WeirCore
import WeirRules
import WeirTestSupport

@testable import WeirActions

/// An executor that records concurrency and can be held closed to fill the queue.
final class ProbeExecutor: ActionExecutor, Sendable {
    struct State {
        var running = 0
        var peak = 0
        var done: [String] = []
        var gateOpen = true
    }

    let state = Mutex(State())
    let failRule: String?
    let delay: Duration

    init(delay: Duration = .milliseconds(5), failRule: String? = nil) {
        self.delay = delay
        self.failRule = failRule
    }

    func execute(_ invocation: Invocation) async throws {
        state.withLock { s in
            s.running += 1
            s.peak = max(s.peak, s.running)
        }
        while !state.withLock({ $0.gateOpen }) { try await Task.sleep(for: .milliseconds(2)) }
        try await Task.sleep(for: delay)
        state.withLock { s in
            s.running -= 1
            s.done.append(invocation.rule)
        }
        if invocation.rule == failRule { throw EvaluationError("boom") }
    }
}

func invocation(_ rule: String) -> Invocation {
    Invocation(rule: rule, action: .log(level: .info), row: [:], topic: "t", receivedAt: 0)
}

@Suite struct ActionPoolTests {
    @Test func neverExceedsTheConcurrencyBoundAndRunsEverything() async {
        let probe = ProbeExecutor()
        let pool = ActionPool(
            configuration: .init(maxConcurrency: 3, maxQueued: 100), executor: probe, logger: Logger(label: "t"),
            metricsFactory: NOOPMetricsHandler.instance)
        let runner = Task { await pool.run() }
        for i in 0..<40 { await pool.submit(invocation("r\(i)")) }
        pool.finish()
        await runner.value
        let state = probe.state.withLock { $0 }
        #expect(state.done.count == 40)
        #expect(state.peak == 3)
        #expect(pool.peakConcurrency == 3)
    }

    @Test func fullQueueSuspendsTheSubmitter() async throws {
        let probe = ProbeExecutor(delay: .zero)
        probe.state.withLock { $0.gateOpen = false }
        let pool = ActionPool(
            configuration: .init(maxConcurrency: 1, maxQueued: 2), executor: probe, logger: Logger(label: "t"),
            metricsFactory: NOOPMetricsHandler.instance)
        let runner = Task { await pool.run() }
        let submitted = Mutex(0)
        let producer = Task {
            for i in 0..<10 {
                await pool.submit(invocation("r\(i)"))
                submitted.withLock { $0 += 1 }
            }
        }
        // Wait (bounded) until the worker holds one invocation at the gate and the submitter is stuck.
        for _ in 0..<500 where probe.state.withLock({ $0.running }) == 0 || submitted.withLock({ $0 }) < 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(50))
        // One running (held at the gate) + two queued; the fourth submit stays suspended.
        #expect(submitted.withLock { $0 } == 3)
        #expect(pool.queued <= 3)
        probe.state.withLock { $0.gateOpen = true }
        await producer.value
        pool.finish()
        await runner.value
        #expect(probe.state.withLock { $0.done.count } == 10)
    }

    @Test func failuresAreCountedAndDoNotStopThePool() async {
        let probe = ProbeExecutor(delay: .zero, failRule: "bad")
        let pool = ActionPool(
            configuration: .init(maxConcurrency: 2, maxQueued: 10), executor: probe, logger: Logger(label: "t"),
            metricsFactory: NOOPMetricsHandler.instance)
        let runner = Task { await pool.run() }
        for rule in ["ok", "bad", "ok", "bad", "ok"] { await pool.submit(invocation(rule)) }
        pool.finish()
        await runner.value
        #expect(probe.state.withLock { $0.done.count } == 5)
        #expect(await pool.submit(invocation("late")) == false, "a finished pool refuses work")
    }
}

/// Records publishes for the built-in actions test.
final class RecordingPublisher: MessagePublisher, Sendable {
    let published = Mutex<[(String, String, Int, Bool)]>([])
    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws {
        published.withLock { $0.append((topic, String(decoding: payload, as: UTF8.self), qos, retain)) }
    }
}

@Suite struct ActionRunnerTests {
    @Test func publishRendersTheTopicAndSendsTheRowAsJSON() async throws {
        let publisher = RecordingPublisher()
        let actions = ActionRunner(publisher: publisher, logger: Logger(label: "t"))
        let spec = ActionSpec.publish(topic: try Template("alerts/${site}/${device}"), qos: 1, retain: true)
        try await actions.execute(
            Invocation(rule: "r", action: spec, row: ["device": "d1", "temp": 85.5, "site": "s1"], topic: "t", receivedAt: 0))
        let sent = publisher.published.withLock { $0 }
        #expect(sent.count == 1)
        #expect(sent.first?.0 == "alerts/s1/d1")
        #expect(sent.first?.1 == #"{"device":"d1","temp":85.5,"site":"s1"}"#)
        #expect(sent.first?.2 == 1)
        #expect(sent.first?.3 == true)
    }

    @Test func missingTemplateColumnFailsTheAction() async throws {
        let actions = ActionRunner(publisher: RecordingPublisher(), logger: Logger(label: "t"))
        let spec = ActionSpec.publish(topic: try Template("a/${site}"), qos: 0, retain: false)
        await #expect(throws: Template.RenderError.self) {
            try await actions.execute(Invocation(rule: "r", action: spec, row: ["device": "d1"], topic: "t", receivedAt: 0))
        }
    }
}

/// Forward-like actions: started at submission (recording the order), completed when released.
final class PipelinedProbe: ActionExecutor, Sendable {
    let started = Mutex<[String]>([])
    let gate = AsyncSemaphore(limit: 1)
    let completed = Mutex<[String]>([])

    func execute(_ invocation: Invocation) async throws {}

    func startInline(_ invocation: Invocation) throws -> Started? {
        started.withLock { $0.append(invocation.rule) }
        return .pending { [self] in
            await gate.acquire()
            gate.release()
            completed.withLock { $0.append(invocation.rule) }
        }
    }
}

@Suite struct PipelinedPoolTests {
    @Test func inlineActionsStartInSubmissionOrderAreBoundedAndDrain() async throws {
        let probe = PipelinedProbe()
        await probe.gate.acquire()  // hold every completion
        let pool = ActionPool(
            configuration: .init(maxConcurrency: 2, maxQueued: 10, maxPipelined: 5), executor: probe, logger: Logger(label: "t"),
            metricsFactory: NOOPMetricsHandler.instance)
        let runner = Task { await pool.run() }
        let action = ActionSpec.forward(upstream: "cloud")
        let submitter = Task {
            for i in 0..<8 { await pool.submit(Invocation(rule: "r\(i)", action: action, row: [:], topic: "t", receivedAt: 0)) }
        }
        #expect(await eventually { probe.started.withLock { $0.count } == 6 })
        // Five are waiting to complete; the sixth started and now waits for a permit: ingest is held.
        try await Task.sleep(for: .milliseconds(50))
        #expect(probe.started.withLock { $0 } == (0..<6).map { "r\($0)" }, "started in submission order, no further")
        probe.gate.release()
        await submitter.value
        pool.finish()
        await runner.value  // returns only after every started action completed
        #expect(Set(probe.completed.withLock { $0 }) == Set((0..<8).map { "r\($0)" }))
    }
}

/// Actions that are finished when started (a QoS 0 publish): counts what reached a worker.
final class DoneAtStartProbe: ActionExecutor, Sendable {
    let executed = Mutex(0)
    func execute(_ invocation: Invocation) async throws { executed.withLock { $0 += 1 } }
    func startInline(_ invocation: Invocation) throws -> Started? { .done }
}

@Suite struct DoneAtStartTests {
    /// Booked inside `submit`: the settlement is settled when it returns, no worker ran it, and
    /// the pool drains with nothing pending.
    @Test func anActionDoneAtStartIsSettledBySubmitItself() async throws {
        let probe = DoneAtStartProbe()
        let pool = ActionPool(
            configuration: .init(maxConcurrency: 1, maxQueued: 10), executor: probe, logger: Logger(label: "t"),
            metricsFactory: NOOPMetricsHandler.instance)
        let runner = Task { await pool.run() }
        let settlement = Settlement()
        for i in 0..<3 {
            var invocation = Invocation(
                rule: "r\(i)", action: .publish(topic: try Template("out"), qos: 0, retain: false), row: [:], topic: "t", receivedAt: 0)
            invocation.settlement = settlement
            #expect(await pool.submit(invocation))
        }
        settlement.seal()
        #expect(settlement.outcome == .settled, "settled before submit returned: nothing was left to wait for")
        pool.finish()
        await runner.value
        #expect(probe.executed.withLock { $0 } == 0)
    }
}
