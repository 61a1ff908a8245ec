import WeirCore
import WeirForwarder
import WeirMQTT
import WeirRules

/// One upstream under `upstreams:` in weir.yaml.
public struct UpstreamConfig: Sendable {
    public var name: String
    public var mqtt: MQTTConfiguration
    /// Topic template; `${gateway_id}` is replaced.
    public var topic = "weir/${gateway_id}/events"
    public var forwarder = ForwarderConfiguration()

    /// The topic with `${gateway_id}` filled in.
    public func resolvedTopic(gatewayID: String) -> String {
        topic.replacingOccurrences(of: "${gateway_id}", with: gatewayID)
    }
}

extension ConfigLoader {
    static func parseUpstreams(_ node: YAMLNode, gatewayID: String) throws(Diagnostic) -> [UpstreamConfig] {
        let map = try node.mapping("'upstreams'")
        var result: [UpstreamConfig] = []
        for entry in map.entries {
            guard entry.key.allSatisfy({ $0.isLetter || $0.isNumber || "-_".contains($0) }) else {
                throw entry.keyNode.error("upstream name '\(entry.key)' may contain only letters, digits, '-' and '_'")
            }
            result.append(try parseUpstream(entry.key, entry.value, gatewayID: gatewayID))
        }
        return result
    }

    static func parseUpstream(_ name: String, _ node: YAMLNode, gatewayID: String) throws(Diagnostic) -> UpstreamConfig {
        let map = try node.mapping("upstream '\(name)'")
        try map.checkKeys(["mqtt", "batch", "compression"], in: "upstream '\(name)'")
        let mqttNode = try map.require("mqtt", in: "upstream '\(name)'")
        let m = try mqttNode.mapping("'mqtt'")
        try m.checkKeys(["host", "port", "client_id", "username", "password_file", "topic", "tls", "keepalive"], in: "'mqtt' of upstream '\(name)'")
        var mqtt = MQTTConfiguration(clientID: "weir-\(gatewayID)-\(name)", cleanSession: false)
        mqtt.host = try m.require("host", in: "'mqtt'").string("'host'")
        if let n = m["port"] { mqtt.port = try bounded(n, "'port'", 1...65535) }
        if let n = m["client_id"] { mqtt.clientID = try n.string("'client_id'") }
        if let n = m["username"] { mqtt.username = try n.string("'username'") }
        if let n = m["password_file"] {
            let path = try n.string("'password_file'")
            do {
                mqtt.password = try readSecret(path)
            } catch {
                throw n.error("cannot read password file '\(path)'")
            }
        }
        if let n = m["keepalive"] { mqtt.keepAliveSeconds = Int(try duration(n, "'keepalive'").milliseconds / 1000) }
        if let n = m["tls"] { mqtt.tls = try parseTLS(n) }
        var upstream = UpstreamConfig(name: name, mqtt: mqtt)
        if let n = m["topic"] { upstream.topic = try n.string("'topic'") }
        if let n = map["batch"] {
            let b = try n.mapping("'batch'")
            try b.checkKeys(["max_events", "max_bytes", "max_delay"], in: "'batch'")
            if let v = b["max_events"] { upstream.forwarder.maxEvents = try bounded(v, "'max_events'", 1...100_000) }
            if let v = b["max_bytes"] { upstream.forwarder.maxBytes = try byteSize(v, "'max_bytes'") }
            if let v = b["max_delay"] { upstream.forwarder.maxDelay = try duration(v, "'max_delay'") }
        }
        if let n = map["compression"] {
            switch try n.string("'compression'") {
            case "zstd": upstream.forwarder.compression = true
            case "none": upstream.forwarder.compression = false
            case let other: throw n.error("unknown compression '\(other)' (expected zstd or none)")
            }
        }
        return upstream
    }
}
