import Logging
import Synchronization
import WeirCore
import WeirMQTT

/// Publishes `seq`-numbered QoS 1 events at a steady rate until stopped, remembering every one the
/// broker acknowledged: the events Weir must not lose. Shared by the durability tests and
/// `weir-bench ack`.
public final class PacedLoad: Sendable {
    final class Shared: Sendable {
        let accepted = Mutex<Set<Int>>([])
        let stopping = Atomic<Bool>(false)
        /// Published, acknowledgement not yet in.
        let outstanding = Atomic<Int>(0)
        /// The highest sequence number published so far.
        let sent = Atomic<Int>(0)
    }

    let client: MQTTClient
    let shared = Shared()
    let task: Task<Void, Never>
    let started = ContinuousClock.now

    /// - Parameters:
    ///   - overshoot: offer this much more than `perSecond` (1.1 keeps the rate on a loaded
    ///     machine whose pacing slips).
    ///   - topic, payload: the event with sequence number `seq` (from 1).
    public init(
        port: Int, clientID: String, perSecond: Int, overshoot: Double = 1.0, topic: @escaping @Sendable (Int) -> String,
        payload: @escaping @Sendable (Int) -> [UInt8]
    ) async throws {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(port: port, clientID: clientID, cleanSession: true, maxInflight: 1000),
            logger: Logger(label: "load"))
        client.start()
        await client.waitUntilReady()
        self.client = client
        let shared = shared
        let chunk = max(1, Int(Double(perSecond) * overshoot / 100))
        task = Task {
            var seq = 0
            let start = ContinuousClock.now
            var tick = 0
            while !shared.stopping.load(ordering: .relaxed) {
                var pending: [(Int, AsyncLatch<Void>)] = []
                for _ in 0..<chunk {
                    seq += 1
                    if let latch = try? client.enqueuePublish(topic: topic(seq), payload: payload(seq), qos: 1) {
                        pending.append((seq, latch))
                    }
                }
                shared.sent.store(seq, ordering: .relaxed)
                shared.outstanding.add(pending.count, ordering: .relaxed)
                // Acknowledgements are collected aside, so a slow one does not slow the rate.
                let batch = pending
                Task {
                    for (n, latch) in batch {
                        if (try? await latch.value) != nil { shared.accepted.withLock { _ = $0.insert(n) } }
                        shared.outstanding.subtract(1, ordering: .relaxed)
                    }
                }
                // Paced against the clock (10 ms per chunk), not by sleeping a fixed time per chunk.
                tick += 1
                let due = start + .milliseconds(10 * tick)
                if due > .now { try? await Task.sleep(until: due) }
            }
        }
    }

    /// Stops publishing, waits (up to 30 s) for the acknowledgements still due, and returns the
    /// rate offered, events/s.
    @discardableResult
    public func stop() async -> Double {
        shared.stopping.store(true, ordering: .relaxed)
        await task.value
        let elapsed = ContinuousClock.now - started
        _ = await eventually(timeout: .seconds(30)) { shared.outstanding.load(ordering: .relaxed) == 0 }
        client.shutdown()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(shared.sent.load(ordering: .relaxed)) / seconds
    }

    /// The highest sequence number published so far.
    public var sentCount: Int { shared.sent.load(ordering: .relaxed) }

    /// The events the broker acknowledged.
    public var acceptedSeqs: Set<Int> { shared.accepted.withLock { $0 } }
}
