import Logging
import Metrics
import WeirForwarder
import WeirMQTT
import WeirStore

/// Each upstream's connection and the forwarder that sends its outbox there, in configuration order.
func buildUpstreams(config: WeirConfig, store: DaemonStore, metrics: DaemonMetrics, logger: Logger) throws -> [ForwarderService] {
    var forwarders: [ForwarderService] = []
    for upstream in config.upstreams {
        guard let outbox = store.outboxes[upstream.name] else { continue }
        let connection = try makeUpstream(upstream, gatewayID: config.gatewayID, metrics: metrics, logger: logger)
        let forwarder = Forwarder(
            name: upstream.name, outbox: outbox, sender: connection, deadLetters: store.deadLetters, configuration: upstream.forwarder,
            gatewayID: config.gatewayID, logger: logger, metricsFactory: metrics.factory)
        forwarders.append(ForwarderService(upstream: connection, forwarder: forwarder))
    }
    return forwarders
}

/// The connection for one upstream; MQTT ones report their state in `weir_upstream_connected`.
func makeUpstream(_ upstream: UpstreamConfig, gatewayID: String, metrics: DaemonMetrics, logger: Logger) throws -> any Upstream {
    switch upstream.transport {
    case .http(let http):
        return try HTTPUpstream(configuration: http, compressed: upstream.forwarder.compression)
    case .mqtt(let mqtt):
        let connected = Gauge(label: "weir_upstream_connected", dimensions: [("upstream", upstream.name)], factory: metrics.factory)
        connected.record(0)
        let client = try MQTTClient(
            configuration: mqtt, logger: logger,
            onConnection: { change in
                switch change {
                case .connected: connected.record(1)
                case .disconnected, .connectFailed: connected.record(0)
                case .subscribed: break
                }
            })
        return MQTTUpstream(client: client, topic: upstream.resolvedTopic(gatewayID: gatewayID))
    }
}
