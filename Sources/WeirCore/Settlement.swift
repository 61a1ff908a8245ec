import Dispatch
import Synchronization

/// The effects of one batch of broker messages, and whether they are all settled: durable
/// (an fsynced outbox row, a finished window checkpoint, a journaled invocation, a publish the
/// broker acknowledged) or ended for good (counted, dead-lettered or dropped by policy).
///
/// The MQTT loop holds a batch's acknowledgements until its settlement completes. Each effect
/// calls `begin()` before it starts and `end(_:)` exactly once when it settles; whoever routes the
/// batch calls `seal()` after the last event. The settlement completes when it is sealed and no
/// effect is pending; it completes `unsettled` if any effect ended with an `UnsettledError` (the
/// store could not write it): then nothing of the batch may be acknowledged, and the broker
/// delivers it again.
public final class Settlement: Sendable {
    public enum Outcome: Sendable, Equatable {
        case settled
        /// Why the batch cannot be acknowledged (the first failure seen).
        case unsettled(reason: String)
    }

    private struct State {
        var pending = 0
        var sealed = false
        var failure: String?
        var outcome: Outcome?
        var waiters: [CheckedContinuation<Outcome, Never>] = []
    }

    private let state = Mutex(State())
    private let completed = DispatchSemaphore(value: 0)

    public init() {}

    /// A settlement that completed unsettled, for a batch refused before any effect began.
    public static func refused(_ error: any UnsettledError) -> Settlement {
        let settlement = Settlement()
        settlement.begin()
        settlement.end(error)
        settlement.seal()
        return settlement
    }

    /// One more effect to wait for.
    public func begin() {
        state.withLock { s in
            precondition(s.outcome == nil, "Settlement.begin after completion")
            s.pending += 1
        }
    }

    /// One effect settled; `error` is what it ended with, if it failed. Only an `UnsettledError`
    /// makes the batch unsettled: any other failure is final, and so settled.
    public func end(_ error: (any Error)? = nil) {
        let reason = (error as? any UnsettledError).map { "\($0)" }
        finish { s in
            s.pending -= 1
            if let reason, s.failure == nil { s.failure = reason }
        }
    }

    /// No more effects will begin.
    public func seal() {
        finish { $0.sealed = true }
    }

    private func finish(_ change: (inout State) -> Void) {
        let done = state.withLock { s -> (Outcome, [CheckedContinuation<Outcome, Never>])? in
            change(&s)
            guard s.outcome == nil, s.sealed, s.pending == 0 else { return nil }
            let outcome: Outcome = s.failure.map { .unsettled(reason: $0) } ?? .settled
            s.outcome = outcome
            defer { s.waiters.removeAll() }
            return (outcome, s.waiters)
        }
        guard let (outcome, waiters) = done else { return }
        completed.signal()
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    /// The outcome, if the settlement has completed.
    public var outcome: Outcome? { state.withLock { $0.outcome } }

    /// Blocks the calling OS thread (never a cooperative-pool thread) until the settlement
    /// completes or `timeout` passes (nil then).
    public func wait(timeout: Duration) -> Outcome? {
        if let outcome { return outcome }
        let nanos = Int(min(timeout.nanoseconds, Int64(Int32.max) * 1_000_000_000))
        guard completed.wait(timeout: .now() + .nanoseconds(nanos)) == .success else { return outcome }
        completed.signal()  // later waiters pass too
        return outcome
    }

    /// Suspends until the settlement completes.
    public func value() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> Outcome? in
                if s.outcome == nil { s.waiters.append(continuation) }
                return s.outcome
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// An error meaning an effect did not become durable and is not final: the store could not write
/// it (no space, I/O error) or the component stopped first. Its event must not be acknowledged.
public protocol UnsettledError: Error, CustomStringConvertible {}

extension Duration {
    /// Whole nanoseconds, saturating.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product &+ attoseconds / 1_000_000_000
    }
}

/// The store could not write an effect (no space, I/O error): it is not durable and not final.
public struct StoreWriteFailed: UnsettledError {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "store write failed: \(reason)" }
}
