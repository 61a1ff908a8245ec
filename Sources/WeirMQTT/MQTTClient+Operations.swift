import CMosquitto
import Glibc
import WeirCore

extension MQTTClient {
    /// Makes `filters` the subscribed set: subscribes what is new and unsubscribes what is gone.
    ///
    /// The set is remembered and subscribed again on every reconnect.
    public func setSubscriptions(_ filters: Set<String>) throws(MosquittoError) {
        let (added, removed, connected) = state.withLock { s in
            let added = filters.subtracting(s.filters)
            let removed = s.filters.subtracting(filters)
            s.filters = filters
            return (added, removed, s.connected)
        }
        guard connected else { return }
        if !added.isEmpty { _ = try sendSubscribe(added.sorted()) }
        if !removed.isEmpty {
            try withCStrings(removed.sorted().map(subscriptionName)) { pointers throws(MosquittoError) in
                try mosq(
                    "mosquitto_unsubscribe_multiple",
                    mosquitto_unsubscribe_multiple(handle, nil, Int32(pointers.count), pointers.baseAddress, nil))
            }
        }
        // Queued only: the loop writes it (after the settlement of a batch it may be holding).
        wake.signal()
    }

    /// The filters this client keeps subscribed.
    public var subscriptions: Set<String> { state.withLock { $0.filters } }

    func sendSubscribe(_ filters: [String]) throws(MosquittoError) -> Int32 {
        var mid: Int32 = 0
        try withCStrings(filters.map(subscriptionName)) { pointers throws(MosquittoError) in
            try mosq(
                "mosquitto_subscribe_multiple",
                mosquitto_subscribe_multiple(handle, &mid, Int32(pointers.count), pointers.baseAddress, Int32(subscribeQoS), 0, nil))
        }
        return mid
    }

    /// Publishes and, for QoS 1 and 2, returns once the broker has acknowledged the message.
    ///
    /// While disconnected, QoS 1/2 messages wait in libmosquitto and are sent on reconnect; the call
    /// waits with them (that is the backpressure a broker outage should cause).
    public func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool = false) async throws {
        try await enqueuePublish(topic: topic, payload: payload, qos: qos, retain: retain).value
    }

    /// Queues a publish now (messages keep the order of the calls) and returns what completes when
    /// the broker has acknowledged it (at once for QoS 0). The loop is woken to write it, so
    /// publishes queued together leave in one write.
    public func enqueuePublish(topic: String, payload: [UInt8], qos: Int, retain: Bool = false) throws -> AsyncLatch<Void> {
        if qos == 0 {
            try publishNow(topic: topic, payload: payload, qos: 0, retain: retain)
            return AsyncLatch(.success(()))
        }
        let latch = AsyncLatch<Void>()
        // The lock is held across mosquitto_publish so the acknowledgement callback, which takes the
        // same lock, cannot run before the latch is registered under the new message id.
        // mosquitto_publish only queues the packet (the client is marked threaded).
        try state.withLock { s throws(any Error) in
            if s.stopping { throw MQTTClientStopped() }
            var mid: Int32 = 0
            let rc = payload.withUnsafeBytes { bytes in
                mosquitto_publish(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain)
            }
            // Not connected: libmosquitto has queued the message anyway and sends it on reconnect
            // (message__reconnect_reset), so it is pending, not failed.
            if rc != MOSQ_ERR_NO_CONN.rawValue { try mosq("mosquitto_publish", rc) }
            s.pendingAcks[mid] = latch
        }
        wake.signal()
        return latch
    }

    /// Publishes QoS 0 from a synchronous context (load generators, simulators).
    public func publishNow(topic: String, payload: [UInt8], qos: Int = 0, retain: Bool = false) throws(MosquittoError) {
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, nil, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain)
        }
        try mosq("mosquitto_publish", rc)
        wake.signal()
    }

    /// Number of times the client has connected (1 + reconnects).
    public var connectCount: Int { state.withLock { $0.connects } }
}

/// Calls `body` with a C array of C strings that lives for the duration of the call.
func withCStrings<R>(
    _ strings: [String], _ body: (UnsafeMutableBufferPointer<UnsafeMutablePointer<CChar>?>) throws(MosquittoError) -> R
) throws(MosquittoError) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    var array = pointers
    return try array.withUnsafeMutableBufferPointer { buffer throws(MosquittoError) in try body(buffer) }
}
