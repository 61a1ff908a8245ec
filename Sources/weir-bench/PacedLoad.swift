import Foundation
import Logging
import Synchronization
import WeirCore
import WeirMQTT

/// Publishes `seq`-numbered QoS 1 events at a steady rate until stopped, remembering every one
/// the broker acknowledged (the events Weir must not lose), as the kill loop test does.
final class PacedLoad: Sendable {
    final class Shared: Sendable {
        let accepted = Mutex<Set<Int>>([])
        let stopping = Atomic<Bool>(false)
        let outstanding = Atomic<Int>(0)
        let sent = Atomic<Int>(0)
    }

    let client: MQTTClient
    let shared = Shared()
    let task: Task<Void, Never>
    let started = monotonicNanos()

    init(port: Int, perSecond: Int) async throws {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(port: port, clientID: "bench-load-\(getpid())", cleanSession: true, maxInflight: 1000),
            logger: Logger(label: "bench"))
        client.start()
        await client.waitUntilReady()
        self.client = client
        let shared = shared
        task = Task {
            var seq = 0
            let chunk = max(1, perSecond / 100)
            let start = ContinuousClock.now
            var tick = 0
            while !shared.stopping.load(ordering: .relaxed) {
                var pending: [(Int, AsyncLatch<Void>)] = []
                for _ in 0..<chunk {
                    seq += 1
                    let payload = Array(#"{"device":"d\#(seq % 10)","seq":\#(seq),"temp":20.5}"#.utf8)
                    if let latch = try? client.enqueuePublish(topic: "bench/in", payload: payload, qos: 1) { pending.append((seq, latch)) }
                }
                shared.sent.store(seq, ordering: .relaxed)
                shared.outstanding.add(pending.count, ordering: .relaxed)
                let batch = pending
                Task {
                    for (n, latch) in batch {
                        if (try? await latch.value) != nil { shared.accepted.withLock { _ = $0.insert(n) } }
                        shared.outstanding.subtract(1, ordering: .relaxed)
                    }
                }
                // Paced against the clock (10 ms per chunk).
                tick += 1
                let due = start + .milliseconds(10 * tick)
                if due > .now { try? await Task.sleep(until: due) }
            }
        }
    }

    /// Stops publishing, waits for the acknowledgements still due, and returns the rate offered.
    func stop() async -> Double {
        shared.stopping.store(true, ordering: .relaxed)
        await task.value
        let seconds = Double(monotonicNanos() - started) / 1e9
        let deadline = monotonicNanos() + 30_000_000_000
        while shared.outstanding.load(ordering: .relaxed) > 0, monotonicNanos() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        client.shutdown()
        return Double(shared.sent.load(ordering: .relaxed)) / seconds
    }
}
