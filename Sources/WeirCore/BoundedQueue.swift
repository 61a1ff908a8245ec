import DequeModule
import Dispatch
import Synchronization

/// A bounded multi-producer, multi-consumer FIFO that pushes back instead of dropping.
///
/// Producers either suspend (`send`, for async callers such as the rule engine handing work to the
/// pool) or block their OS thread (`sendBlocking`, for libmosquitto's network thread). Blocking that
/// thread stops it reading the socket, so backpressure reaches the broker through TCP: nothing is
/// dropped to make room. Consumers `await next()`; after `finish()` they drain what is left and then
/// get `nil`, and waiting producers are released with `false`.
public final class BoundedQueue<Element: Sendable>: Sendable {
    private enum Producer {
        case async(UInt64, CheckedContinuation<Bool, Never>)
        case blocking(UInt64, DispatchSemaphore, Box)
    }

    /// Where a blocked producer learns whether its element was taken or the queue closed.
    private final class Box: @unchecked Sendable {  // written before the semaphore signal, read after it
        var accepted = false
    }

    private enum SendStep {
        case done(Bool)
        case wait(UInt64)
    }

    private struct State {
        var buffer = Deque<Element>()
        /// Elements of producers waiting for room, in arrival order.
        var waitingProducers = Deque<(Element, Producer)>()
        var waitingConsumers = Deque<(UInt64, CheckedContinuation<Element?, Never>)>()
        var finished = false
        var nextID: UInt64 = 0
    }

    public let capacity: Int
    private let state: Mutex<State>

    public init(capacity: Int) {
        precondition(capacity > 0, "BoundedQueue capacity must be positive")
        self.capacity = capacity
        self.state = Mutex(State())
    }

    /// Whether `finish()` was called (later sends are refused).
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Elements buffered plus elements of producers waiting for room.
    public var count: Int {
        state.withLock { $0.buffer.count + $0.waitingProducers.count }
    }

    /// Adds `element`, suspending while the queue is full. Returns `false` if the queue was finished.
    @discardableResult
    public func send(_ element: Element) async -> Bool {
        let step: SendStep = state.withLock { s in
            if s.finished { return .done(false) }
            if let consumer = s.waitingConsumers.popFirst() {
                consumer.1.resume(returning: element)
                return .done(true)
            }
            if s.buffer.count < capacity {
                s.buffer.append(element)
                return .done(true)
            }
            s.nextID += 1
            return .wait(s.nextID)
        }
        switch step {
        case .done(let ok): return ok
        case .wait(let id):
            // Cancellation does not abandon the element: backpressure holds until room or finish().
            return await withCheckedContinuation { continuation in
                let resumeNow: Bool? = state.withLock { s in
                    if s.finished { return false }
                    if s.buffer.count < capacity && s.waitingProducers.isEmpty {
                        s.buffer.append(element)
                        return true
                    }
                    s.waitingProducers.append((element, .async(id, continuation)))
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        }
    }

    /// Adds `element`, blocking the calling thread while the queue is full.
    ///
    /// For C library threads only; never call this from a Swift concurrency task.
    @discardableResult
    public func sendBlocking(_ element: Element) -> Bool {
        // The common case (room, or a waiting consumer) takes the lock once and allocates nothing;
        // the semaphore and its box exist only for a producer that really waits.
        if let immediate = offerLocked(element, waitingAs: nil) { return immediate }
        let semaphore = DispatchSemaphore(value: 0)
        let box = Box()
        if let immediate = offerLocked(element, waitingAs: (semaphore, box)) { return immediate }
        semaphore.wait()
        return box.accepted
    }

    /// Hands `element` to a waiting consumer or the buffer; when neither can take it, queues it as
    /// a blocked producer's (with `waitingAs`) and returns nil, or returns nil without queueing.
    private func offerLocked(_ element: Element, waitingAs waiter: (DispatchSemaphore, Box)?) -> Bool? {
        state.withLock { s in
            if s.finished { return false }
            if let consumer = s.waitingConsumers.popFirst() {
                consumer.1.resume(returning: element)
                return true
            }
            if s.buffer.count < capacity && s.waitingProducers.isEmpty {
                s.buffer.append(element)
                return true
            }
            guard let (semaphore, box) = waiter else { return nil }
            s.nextID += 1
            s.waitingProducers.append((element, .blocking(s.nextID, semaphore, box)))
            return nil
        }
    }

    /// Adds `elements` in order, blocking the calling thread while the queue is full; returns how
    /// many were accepted (fewer than all only once the queue was finished).
    ///
    /// What fits goes in under one lock acquisition, so a network thread handing over a batch
    /// does not contend with the consumer once per element. For C library threads only.
    @discardableResult
    public func sendBlocking(contentsOf elements: [Element]) -> Int {
        let placed: Int? = state.withLock { s in
            if s.finished { return nil }
            var placed = 0
            for element in elements {
                if let consumer = s.waitingConsumers.popFirst() {
                    consumer.1.resume(returning: element)
                } else if s.buffer.count < capacity && s.waitingProducers.isEmpty {
                    s.buffer.append(element)
                } else {
                    break
                }
                placed += 1
            }
            return placed
        }
        guard var accepted = placed else { return 0 }
        for element in elements.dropFirst(accepted) {
            guard sendBlocking(element) else { break }
            accepted += 1
        }
        return accepted
    }

    /// Adds `element` only if there is room now; never waits.
    public func trySend(_ element: Element) -> Bool {
        state.withLock { s in
            if s.finished { return false }
            if let consumer = s.waitingConsumers.popFirst() {
                consumer.1.resume(returning: element)
                return true
            }
            guard s.buffer.count < capacity, s.waitingProducers.isEmpty else { return false }
            s.buffer.append(element)
            return true
        }
    }

    /// Adds `element` even when the queue is full or finishing, never waiting. For producers that
    /// are themselves consumers of the queue (a pool worker queueing work for its own pool), where
    /// waiting for room could wait forever; that consumer, still running, will take it.
    public func forceSend(_ element: Element) {
        state.withLock { s in
            if let consumer = s.waitingConsumers.popFirst() {
                consumer.1.resume(returning: element)
            } else {
                s.buffer.append(element)
            }
        }
    }

    /// The next element, waiting for one; `nil` once the queue is finished and drained, or on cancellation.
    public func next() async -> Element? {
        let immediate: Element?? = state.withLock { s in
            if let element = takeLocked(&s) { return .some(element) }
            return s.finished ? .some(nil) : nil
        }
        if let immediate { return immediate }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeWith: Element?? = state.withLock { s in
                    if let element = takeLocked(&s) { return .some(element) }
                    if s.finished || Task.isCancelled { return .some(nil) }
                    s.waitingConsumers.append((id, continuation))
                    return nil
                }
                if let resumeWith { continuation.resume(returning: resumeWith) }
            }
        } onCancel: {
            let continuation = state.withLock { s -> CheckedContinuation<Element?, Never>? in
                guard let index = s.waitingConsumers.firstIndex(where: { $0.0 == id }) else { return nil }
                return s.waitingConsumers.remove(at: index).1
            }
            continuation?.resume(returning: nil)
        }
    }

    /// Up to `limit` elements in order, waiting for at least one; `nil` once the queue is finished
    /// and drained, or on cancellation. What is buffered is taken under one lock acquisition.
    public func next(upTo limit: Int) async -> [Element]? {
        let taken: [Element] = state.withLock { s in
            var taken: [Element] = []
            while taken.count < limit, let element = takeLocked(&s) { taken.append(element) }
            return taken
        }
        if !taken.isEmpty { return taken }
        return await next().map { [$0] }
    }

    /// Closes the queue: buffered elements can still be taken, new sends fail, waiters are released.
    public func finish() {
        let (consumers, producers) = state.withLock { s in
            s.finished = true
            let consumers = s.waitingConsumers
            let producers = s.waitingProducers
            s.waitingConsumers.removeAll()
            s.waitingProducers.removeAll()
            return (consumers, producers)
        }
        for (_, consumer) in consumers { consumer.resume(returning: nil) }
        for (_, producer) in producers { Self.release(producer, accepted: false) }
    }

    /// Takes the head element and moves the first waiting producer's element into the freed slot.
    private func takeLocked(_ s: inout State) -> Element? {
        guard let element = s.buffer.popFirst() else { return nil }
        if let (waitingElement, producer) = s.waitingProducers.popFirst() {
            s.buffer.append(waitingElement)
            Self.release(producer, accepted: true)
        }
        return element
    }

    private static func release(_ producer: Producer, accepted: Bool) {
        switch producer {
        case .async(_, let continuation):
            continuation.resume(returning: accepted)
        case .blocking(_, let semaphore, let box):
            box.accepted = accepted
            semaphore.signal()
        }
    }
}
