import Synchronization
import WeirCore
import WeirRules

/// `weir tap`: live, bounded views of what flows through the daemon. The router offers each event
/// and each rule's rows here, but only while a tap is open (one relaxed atomic load per event
/// otherwise); each tap samples, caps its rate and buffers a bounded number of lines, dropping
/// rather than ever making ingest wait.
public final class TapHub: Sendable {
    /// What one tap shows.
    public enum Filter: Sendable {
        /// Events whose topic matches the filter, as they come in.
        case topic(TopicFilter)
        /// The rows the rule produces and the actions they run.
        case rule(String)
    }

    /// An open tap: its lines, and how many were dropped (sampling aside) to keep up.
    public final class Subscription: Sendable {
        public let lines: AsyncStream<String>
        let continuation: AsyncStream<String>.Continuation
        let filter: Filter
        let sample: Double
        let bucket: Mutex<(tokens: Double, refilledAt: UInt64)>
        let maxPerSecond: Double
        let droppedCount = Atomic<Int>(0)
        fileprivate let id: UInt64

        /// Lines not shown because the rate cap or the buffer was full.
        public var dropped: Int { droppedCount.load(ordering: .relaxed) }

        fileprivate init(id: UInt64, filter: Filter, sample: Double, maxPerSecond: Int, buffer: Int) {
            (lines, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(buffer))
            self.id = id
            self.filter = filter
            self.sample = sample
            self.maxPerSecond = Double(maxPerSecond)
            bucket = Mutex((Double(maxPerSecond), monotonicNanos()))
        }

        /// Takes a token of the rate cap (and a sampling draw); false: this one is not shown.
        fileprivate func admits() -> Bool {
            if sample < 1, Double.random(in: 0..<1) >= sample { return false }
            let allowed = bucket.withLock { b in
                let now = monotonicNanos()
                b.tokens = min(maxPerSecond, b.tokens + Double(now - b.refilledAt) / 1e9 * maxPerSecond)
                b.refilledAt = now
                guard b.tokens >= 1 else { return false }
                b.tokens -= 1
                return true
            }
            if !allowed { droppedCount.add(1, ordering: .relaxed) }
            return allowed
        }

        fileprivate func send(_ line: @autoclosure () -> String) {
            guard admits() else { return }
            if case .dropped = continuation.yield(line()) { droppedCount.add(1, ordering: .relaxed) }
        }
    }

    /// Open taps at most: each costs the router work per event.
    public let maxTaps: Int
    private let taps = Mutex<[UInt64: Subscription]>([:])
    private let count = Atomic<Int>(0)
    private let nextID = Atomic<UInt64>(1)

    public init(maxTaps: Int = 4) {
        self.maxTaps = maxTaps
    }

    /// Whether any tap is open: the router's check before it builds anything for them.
    @inline(__always) public var isActive: Bool { count.load(ordering: .relaxed) > 0 }

    /// Taps open now.
    public var openTaps: Int { count.load(ordering: .relaxed) }

    /// Opens a tap; nil when `maxTaps` are open already.
    public func open(_ filter: Filter, sample: Double = 1, maxPerSecond: Int = 100, buffer: Int = 1000) -> Subscription? {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let subscription = Subscription(
            id: id, filter: filter, sample: min(1, max(0, sample)), maxPerSecond: max(1, maxPerSecond), buffer: max(1, buffer))
        let opened = taps.withLock { taps -> Bool in
            guard taps.count < maxTaps else { return false }
            taps[id] = subscription
            count.store(taps.count, ordering: .relaxed)
            return true
        }
        return opened ? subscription : nil
    }

    /// Closes a tap: nothing of it is left in the daemon afterwards.
    public func close(_ subscription: Subscription) {
        taps.withLock { taps in
            taps[subscription.id] = nil
            count.store(taps.count, ordering: .relaxed)
        }
        subscription.continuation.finish()
    }

    /// An event as it came in, to the topic taps it matches.
    func offer(_ event: Event) {
        for tap in snapshot() {
            guard case .topic(let filter) = tap.filter, filter.matches(event.topic) else { continue }
            tap.send(
                Self.line([
                    "kind": "event", "topic": .string(event.topic), "qos": .int(Int64(event.qos)),
                    "time": .string(rfc3339(millis: event.receivedAt)), "payload": Self.payload(event.payload),
                ]))
        }
    }

    /// A rule's output row and the actions it runs, to the taps on that rule.
    func offer(rule: Rule, row: JSONObject, topic: String) {
        for tap in snapshot() {
            guard case .rule(let name) = tap.filter, name == rule.name else { continue }
            tap.send(
                Self.line([
                    "kind": "row", "rule": .string(rule.name), "topic": .string(topic), "row": .object(row),
                    "actions": .array(rule.actions.map { .string($0.kind) }),
                ]))
        }
    }

    /// A windowed rule's input (its row comes when the window closes), to the taps on that rule.
    func offer(window input: WindowInput, topic: String) {
        for tap in snapshot() {
            guard case .rule(let name) = tap.filter, name == input.rule.name else { continue }
            tap.send(
                Self.line([
                    "kind": "window_input", "rule": .string(name), "topic": .string(topic), "group": .array(input.keys),
                    "time": .string(rfc3339(millis: input.time)),
                ]))
        }
    }

    private func snapshot() -> [Subscription] { taps.withLock { Array($0.values) } }

    private static func line(_ object: JSONObject) -> String {
        String(decoding: JSONWriter.bytes(.object(object)), as: UTF8.self)
    }

    /// The payload as JSON when it is JSON, else as text, else (a binary frame, which would turn
    /// into replacement characters) as bytes, which the line shows as base64.
    private static func payload(_ bytes: [UInt8]) -> JSONValue {
        if let parsed = try? JSONParser.parse(bytes) { return parsed }
        let head = Array(bytes.prefix(4096))
        return String(validating: head, as: UTF8.self).map(JSONValue.string) ?? .bytes(head)
    }
}
