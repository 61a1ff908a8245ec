import DequeModule
import Dispatch
import Synchronization

/// A byte allowance shared by a producer thread and a consumer: the producer takes bytes before it
/// hands data on, blocking while too many are held; the consumer gives them back once done.
///
/// It bounds what a queue counted in elements cannot: a few large payloads. A request larger than
/// the whole allowance is admitted when nothing else is held, so one oversized item never waits
/// forever; what is held is then at most `capacity` plus one request.
public final class ByteBudget: Sendable {
    private struct Waiter {
        let bytes: Int
        let semaphore: DispatchSemaphore
        let box: Box
    }

    /// Where a blocked producer learns whether it was admitted or the budget closed.
    private final class Box: @unchecked Sendable {  // written before the semaphore signal, read after it
        var admitted = false
    }

    private struct State {
        var held = 0
        var waiters = Deque<Waiter>()
        var finished = false

        func admits(_ bytes: Int, capacity: Int) -> Bool { held == 0 || held + bytes <= capacity }
    }

    /// Bytes that may be held at once.
    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Bytes taken and not yet given back.
    public var held: Int { state.withLock { $0.held } }

    /// Producers blocked for room.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes `bytes`, blocking the calling thread until they fit. Returns `false`, taking nothing,
    /// once `finish()` was called. For C library threads only; never call it from a Swift task.
    public func acquireBlocking(_ bytes: Int) -> Bool {
        let bytes = max(0, bytes)
        enum Step {
            case done(Bool)
            case wait(Waiter)
        }
        let step: Step = state.withLock { s in
            if s.finished { return .done(false) }
            if s.waiters.isEmpty && s.admits(bytes, capacity: capacity) {
                s.held += bytes
                return .done(true)
            }
            let waiter = Waiter(bytes: bytes, semaphore: DispatchSemaphore(value: 0), box: Box())
            s.waiters.append(waiter)
            return .wait(waiter)
        }
        switch step {
        case .done(let admitted):
            return admitted
        case .wait(let waiter):
            waiter.semaphore.wait()
            return waiter.box.admitted
        }
    }

    /// Gives `bytes` back and admits the waiters that now fit, in arrival order.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let admitted: [Waiter] = state.withLock { s in
            s.held = max(0, s.held - bytes)
            var admitted: [Waiter] = []
            while let first = s.waiters.first, s.admits(first.bytes, capacity: capacity) {
                s.waiters.removeFirst()
                s.held += first.bytes
                admitted.append(first)
            }
            return admitted
        }
        for waiter in admitted {
            waiter.box.admitted = true
            waiter.semaphore.signal()
        }
    }

    /// Refuses later requests and releases every waiter with `false`.
    public func finish() {
        let waiters: Deque<Waiter> = state.withLock { s in
            s.finished = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.semaphore.signal() }
    }
}
