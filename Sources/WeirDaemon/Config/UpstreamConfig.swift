import FoundationEssentials
import WeirCore
import WeirForwarder
import WeirMQTT
import WeirRules
import WeirStore

/// One upstream under `upstreams:` in weir.yaml.
public struct UpstreamConfig: Sendable {
    /// How batches travel: exactly one of `mqtt:` or `http:`.
    public enum Transport: Sendable, Equatable {
        case mqtt(MQTTConfiguration)
        case http(HTTPUpstreamConfiguration)
    }

    public var name: String
    public var transport: Transport
    /// Topic template for MQTT; `${gateway_id}` is replaced.
    public var topic = "weir/${gateway_id}/events"
    /// The MQTT transport's `password_file` as configured (the password itself is read at load).
    public var passwordFile: String?
    public var forwarder = ForwarderConfiguration()
    /// Offline buffering limits; by default 1 GiB and 7 days, dropping the oldest when full.
    public var queue = OutboxLimits(maxBytes: 1 << 30, ttl: .seconds(7 * 86_400), whenFull: .dropOldest)

    /// The topic with `${gateway_id}` filled in.
    public func resolvedTopic(gatewayID: String) -> String {
        topic.replacing("${gateway_id}", with: gatewayID)
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
        try map.checkKeys(["mqtt", "http", "batch", "compression", "queue", "retry"], in: "upstream '\(name)'")
        var upstream: UpstreamConfig
        switch (map["mqtt"], map["http"]) {
        case (let mqttNode?, nil):
            upstream = UpstreamConfig(name: name, transport: .mqtt(try parseMQTTUpstream(name, mqttNode, gatewayID: gatewayID)))
            if let n = try mqttNode.mapping("'mqtt'")["password_file"] { upstream.passwordFile = try filePath(n, "'password_file'") }
            if let n = try mqttNode.mapping("'mqtt'")["topic"] { upstream.topic = try n.string("'topic'") }
            // A publish topic, not a filter (gateway_id is letters, digits, '-' and '_' already).
            let topic = upstream.resolvedTopic(gatewayID: gatewayID)
            if topic.isEmpty || topic.contains(where: { $0 == "+" || $0 == "#" || $0 == "\u{0}" }) {
                let position = try mqttNode.mapping("'mqtt'")["topic"] ?? mqttNode
                throw position.error("upstream topic '\(topic)' must be a topic name: not empty, no '+', '#' or NUL")
            }
        case (nil, let httpNode?):
            upstream = UpstreamConfig(name: name, transport: .http(try parseHTTPUpstream(httpNode)))
        case (.some, .some):
            throw map["http"]!.error("upstream '\(name)' has both 'mqtt' and 'http'; choose one")
        case (nil, nil):
            throw node.error("upstream '\(name)' needs 'mqtt' or 'http'")
        }
        if let n = map["batch"] {
            let b = try n.mapping("'batch'")
            try b.checkKeys(["max_events", "max_bytes", "max_delay"], in: "'batch'")
            if let v = b["max_events"] { upstream.forwarder.maxEvents = try bounded(v, "'max_events'", 1...100_000) }
            if let v = b["max_bytes"] { upstream.forwarder.maxBytes = try byteSize(v, "'max_bytes'") }
            if let v = b["max_delay"] { upstream.forwarder.maxDelay = try duration(v, "'max_delay'") }
        }
        // An MQTT batch is one publish: the broker's message size limit counts it as sent.
        if case .mqtt = upstream.transport { upstream.forwarder.maxPayloadBytes = upstream.forwarder.maxBytes }
        if let n = map["compression"] {
            switch try n.string("'compression'") {
            case "zstd": upstream.forwarder.compression = true
            case "none": upstream.forwarder.compression = false
            case let other: throw n.error("unknown compression '\(other)' (expected zstd or none)")
            }
        }
        if let n = map["queue"] { upstream.queue = try parseQueue(n, defaults: upstream.queue) }
        if let n = map["retry"] {
            let r = try n.mapping("'retry'")
            try r.checkKeys(["backoff", "max_backoff"], in: "'retry'")
            if let v = r["backoff"] { upstream.forwarder.retryInitial = try duration(v, "'backoff'") }
            if let v = r["max_backoff"] { upstream.forwarder.retryMax = try duration(v, "'max_backoff'") }
            guard upstream.forwarder.retryInitial > .zero, upstream.forwarder.retryMax >= upstream.forwarder.retryInitial else {
                throw n.error("'retry' needs 0 < backoff <= max_backoff")
            }
        }
        return upstream
    }

    static func parseMQTTUpstream(_ name: String, _ node: YAMLNode, gatewayID: String) throws(Diagnostic) -> MQTTConfiguration {
        let m = try node.mapping("'mqtt'")
        try m.checkKeys(
            ["host", "port", "client_id", "username", "password_file", "topic", "tls", "keepalive", "protocol"],
            in: "'mqtt' of upstream '\(name)'")
        var mqtt = MQTTConfiguration(clientID: "weir-\(gatewayID)-\(name)", cleanSession: false)
        mqtt.host = try m.require("host", in: "'mqtt'").string("'host'")
        if let n = m["port"] { mqtt.port = try bounded(n, "'port'", 1...65535) }
        if let n = m["client_id"] { mqtt.clientID = try n.string("'client_id'") }
        if let n = m["username"] { mqtt.username = try n.string("'username'") }
        // A credential with no credentials directory stays unread: `weir run` refuses to start then.
        if let n = m["password_file"], case let path = try filePath(n, "'password_file'"), SecretFile.credentialName(path) == nil {
            do {
                mqtt.password = try readSecret(path)
            } catch {
                throw n.error("cannot read password file '\(path)'")
            }
        }
        if let n = m["keepalive"] { mqtt.keepAliveSeconds = try keepalive(n) }
        if let n = m["tls"] { mqtt.tls = try parseTLS(n) }
        // Under 5 a PUBACK can refuse a batch (dead-lettered with its reason code) instead of
        // counting it as delivered.
        if let n = m["protocol"] { mqtt.protocolVersion = try protocolVersion(n) }
        return mqtt
    }

    static func parseHTTPUpstream(_ node: YAMLNode) throws(Diagnostic) -> HTTPUpstreamConfiguration {
        let h = try node.mapping("'http'")
        try h.checkKeys(["url", "token_file", "timeout", "headers", "ca_file"], in: "'http'")
        let urlNode = try h.require("url", in: "'http'")
        let url = try urlNode.string("'url'")
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw urlNode.error("'url' must start with http:// or https://")
        }
        var http = HTTPUpstreamConfiguration(url: url)
        if let n = h["token_file"] {
            let path = try filePath(n, "'token_file'")
            guard SecretFile.credentialName(path) != nil || FileManager.default.isReadableFile(atPath: path) else {
                throw n.error("cannot read token file '\(path)'")
            }
            http.tokenFile = path
        }
        if let n = h["timeout"] { http.timeout = try duration(n, "'timeout'") }
        if let n = h["ca_file"] { http.caFile = try filePath(n, "'ca_file'") }
        if let n = h["headers"] {
            for entry in try n.mapping("'headers'").entries { http.headers[entry.key] = try entry.value.string("header '\(entry.key)'") }
        }
        return http
    }

    static func parseQueue(_ node: YAMLNode, defaults: OutboxLimits) throws(Diagnostic) -> OutboxLimits {
        let q = try node.mapping("'queue'")
        try q.checkKeys(["max_bytes", "ttl", "when_full"], in: "'queue'")
        var limits = defaults
        if let n = q["max_bytes"] {
            limits.maxBytes = try n.string("'max_bytes'") == "none" ? nil : UInt64(try byteSize(n, "'max_bytes'"))
        }
        if let n = q["ttl"] { limits.ttl = try n.string("'ttl'") == "none" ? nil : try duration(n, "'ttl'") }
        if let n = q["when_full"] {
            let text = try n.string("'when_full'")
            guard let policy = OutboxLimits.WhenFull(rawValue: text) else {
                throw n.error("unknown when_full '\(text)' (expected drop_oldest or reject_new)")
            }
            limits.whenFull = policy
        }
        return limits
    }
}
