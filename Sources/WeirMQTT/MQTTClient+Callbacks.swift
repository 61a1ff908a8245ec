import CMosquitto
import WeirCore

// Callbacks run on the network thread. They copy what they need out of libmosquitto's structures,
// which are freed as soon as the callback returns.
extension MQTTClient {
    func handleConnect(rc: Int32, sessionPresent: Bool) {
        guard rc == 0 else {
            let reason = MQTTConnectionRefused(code: rc).description
            logger.error("MQTT connection refused", metadata: ["reason": "\(reason)"])
            onConnection?(.connectFailed(reason: reason))
            return
        }
        let filters = state.withLock { s in
            s.connected = true
            s.subscribed = false
            s.connects += 1
            return Array(s.filters).sorted()
        }
        logger.info(
            "MQTT connected", metadata: ["broker": "\(configuration.host):\(configuration.port)", "session_present": "\(sessionPresent)"])
        onConnection?(.connected(sessionPresent: sessionPresent))
        // Subscribe even with a session present: the broker may have lost the session, and the rule
        // set may have changed while we were away.
        if filters.isEmpty {
            releaseReadyWaiters()
        } else {
            do {
                let mid = try sendSubscribe(filters)
                state.withLock { $0.subscribeMid = mid }
            } catch {
                logger.error("MQTT subscribe failed", metadata: ["error": "\(error)"])
            }
        }
    }

    func handleDisconnect(rc: Int32) {
        state.withLock { s in
            s.connected = false
            s.subscribed = false
        }
        let reason = rc == 0 ? "client disconnected" : mosquittoMessage(rc)
        if rc != 0 {
            logger.warning("MQTT connection lost", metadata: ["reason": "\(reason)"])
        }
        onConnection?(.disconnected(reason: reason))
    }

    func handleSubscribe(mid: Int32, granted: [Int32]) {
        let refused = granted.filter { $0 == 0x80 }.count
        if refused > 0 {
            logger.error("broker refused \(refused) subscription(s); check its ACL")
        }
        let isInitial = state.withLock { s in
            guard mid == s.subscribeMid else { return false }
            s.subscribed = true
            return true
        }
        if isInitial {
            onConnection?(.subscribed(filters: granted.count))
            releaseReadyWaiters()
        }
    }

    /// A QoS 1/2 publish was acknowledged. Under MQTT 5 a reason code of 0x80 or more is a
    /// refusal (MQTT 3.1.1 has no way to say no: there the PUBACK always means accepted).
    func handlePublished(mid: Int32, reasonCode: Int32) {
        let latch = state.withLock { $0.pendingAcks.removeValue(forKey: mid) }
        guard reasonCode < 0x80 else {
            latch?.complete(.failure(MQTTPublishRefused(reasonCode: reasonCode)))
            return
        }
        latch?.complete(.success(()))
    }

    /// Copies the message and its MQTT 5 properties into the batch being read (the loop hands it on
    /// after `loop_read`). A payload over `maxPayloadBytes` is not copied: the event carries its
    /// size instead.
    func handleMessage(_ message: mosquitto_message, properties: OpaquePointer?) {
        guard onBatch != nil, let topicPointer = message.topic else { return }
        let count = Int(message.payloadlen)
        let oversized = count > configuration.maxPayloadBytes
        let payload: [UInt8] =
            count > 0 && message.payload != nil && !oversized
            ? Array(UnsafeRawBufferPointer(start: message.payload, count: count)) : []
        var event = Event(
            topic: String(cString: topicPointer), payload: payload, qos: Int(message.qos), retained: message.retain,
            receivedAt: currentTimeMillis())
        if oversized { event.droppedPayloadBytes = count }
        event.properties = Self.messageProperties(properties)
        inbox.append(event)
        inboxBytes += event.bufferedBytes
    }

    func releaseReadyWaiters() {
        // Whoever waits now is released; whoever finds the client not ready later waits for the next time.
        // Once stopping, `shutdown()` releases them after the loop has exited.
        let waiters = state.withLock { s -> AsyncLatch<Void>? in
            guard !s.stopping else { return nil }
            defer { s.ready = AsyncLatch() }
            return s.ready
        }
        waiters?.complete(.success(()))
    }
}
