import CMosquitto
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
            try withCStrings(removed.sorted()) { pointers throws(MosquittoError) in
                try mosq("mosquitto_unsubscribe_multiple", mosquitto_unsubscribe_multiple(handle, nil, Int32(pointers.count), pointers.baseAddress, nil))
            }
        }
    }

    /// The filters this client keeps subscribed.
    public var subscriptions: Set<String> { state.withLock { $0.filters } }

    func sendSubscribe(_ filters: [String]) throws(MosquittoError) -> Int32 {
        var mid: Int32 = 0
        try withCStrings(filters) { pointers throws(MosquittoError) in
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
        if qos == 0 {
            try publishNow(topic: topic, payload: payload, qos: 0, retain: retain)
            return
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // The lock is held across mosquitto_publish so the acknowledgement callback, which takes the
            // same lock, cannot run before the continuation is registered under the new message id.
            // mosquitto_publish only queues the packet and never waits on the callback thread.
            let failure: (any Error)? = state.withLock { s in
                if s.stopping { return MQTTClientStopped() }
                var mid: Int32 = 0
                let rc = payload.withUnsafeBytes { bytes in
                    mosquitto_publish(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain)
                }
                do {
                    try mosq("mosquitto_publish", rc)
                } catch {
                    return error
                }
                s.pendingAcks[mid] = continuation
                return nil
            }
            if let failure { continuation.resume(throwing: failure) }
        }
    }

    /// Publishes QoS 0 from a synchronous context (load generators, simulators).
    public func publishNow(topic: String, payload: [UInt8], qos: Int = 0, retain: Bool = false) throws(MosquittoError) {
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, nil, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain)
        }
        try mosq("mosquitto_publish", rc)
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
