import WeirCore
import WeirMQTT

/// Sends batches to an MQTT upstream at QoS 1; the PUBACK is the acknowledgement (or, under MQTT 5, a refusal).
public struct MQTTUpstream: Upstream {
    public let client: MQTTClient
    public let topic: String

    public init(client: MQTTClient, topic: String) {
        self.client = client
        self.topic = topic
    }

    public func start() { client.start() }

    /// Under MQTT 5 a PUBACK may refuse the batch: a code that retrying cannot fix (not
    /// authorized, topic name invalid, ...) dead-letters it with the code as the reason; the
    /// retryable ones (`MQTTPublishRefused.retryableCodes`) are retried like a lost connection.
    public func send(_ payload: [UInt8]) async throws {
        guard client.isConnected else { throw UpstreamUnavailable() }
        do {
            try await client.publish(topic: topic, payload: payload, qos: 1)
        } catch let refused as MQTTPublishRefused where !refused.isRetryable {
            throw BatchRejected(reason: refused.description)
        }
    }

    public func waitUntilAvailable(timeout: Duration) async {
        await client.waitUntilConnected(timeout: timeout)
    }

    /// Disconnects on an OS thread (the call joins the network thread); a publish still waiting
    /// for its PUBACK fails, and its batch stays in the outbox.
    public func shutdown() async {
        let client = self.client
        await BlockingThreads.shared.run { client.shutdown() }
    }
}

/// The upstream connection is down; the batch stays in the outbox and is retried.
public struct UpstreamUnavailable: Error, Sendable, CustomStringConvertible {
    public var description: String { "upstream not connected" }
}
