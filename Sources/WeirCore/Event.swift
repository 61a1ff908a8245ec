import Glibc

/// One message taken from the broker, copied out of libmosquitto's buffers.
///
/// The payload stays raw bytes until a rule needs it: topics with no matching rule never pay for a JSON parse.
public struct Event: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retained: Bool
    /// Milliseconds since the Unix epoch when Weir received the message.
    public var receivedAt: Int64
    /// How many function hops produced this event (0 for events from devices); bounds chains.
    public var hops: Int
    /// Monotonic nanoseconds when the network thread copied the message out of libmosquitto:
    /// `weir_event_to_action_seconds` counts from here, so it includes the ingest buffer's wait.
    public var receivedNanos: UInt64
    /// The size of a payload the network thread did not copy because it was over the limit
    /// (`mqtt.max_payload`): `payload` is then empty, and the event is counted as too large
    /// without Weir ever holding the bytes. 0 otherwise.
    public var droppedPayloadBytes = 0

    public init(
        topic: String, payload: [UInt8], qos: Int = 0, retained: Bool = false, receivedAt: Int64, hops: Int = 0,
        receivedNanos: UInt64 = monotonicNanos()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retained = retained
        self.receivedAt = receivedAt
        self.hops = hops
        self.receivedNanos = receivedNanos
    }
}

extension Event {
    /// What the event holds in memory, as ingest's byte bound counts it: payload and topic.
    public var bufferedBytes: Int { payload.count + topic.utf8.count }
}

/// Wall-clock milliseconds since the Unix epoch.
public func currentTimeMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Monotonic nanoseconds, for durations and latency.
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
