import FoundationEssentials
import WeirActions
import WeirCore
import WeirMQTT
import WeirRules
import WeirStore

/// Reads and validates `weir.yaml`. Unknown keys and wrong types are errors at their position.
public enum ConfigLoader {
    public static func load(path: String) throws(Diagnostic) -> WeirConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Diagnostic(SourceLocation(file: path, line: 1, column: 1), "cannot read configuration file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Diagnostic(SourceLocation(file: path, line: 1, column: 1), "configuration file is not UTF-8")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(Diagnostic) -> WeirConfig {
        var config = WeirConfig()
        config.path = file
        let documents = try YAMLFile.documents(text, file: file)
        guard documents.count <= 1 else { throw documents[1].error("the configuration must be a single YAML document") }
        guard let root = documents.first, !root.isNull else { return config }
        let map = try root.mapping("the configuration")
        try map.checkKeys(
            [
                "gateway_id", "rules_dir", "state_dir", "log_level", "mqtt", "pool", "admin", "shutdown_timeout", "rules_watch_interval",
                "upstreams", "commit_interval", "max_hops", "dead_letters",
            ],
            in: "the configuration")
        if let node = map["gateway_id"] {
            config.gatewayID = try node.string("'gateway_id'")
            guard !config.gatewayID.isEmpty, config.gatewayID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw node.error("'gateway_id' may contain only letters, digits, '-', '_' and '.'")
            }
        }
        if let node = map["rules_dir"] { config.rulesDir = try node.string("'rules_dir'") }
        if let node = map["state_dir"] { config.stateDir = try node.string("'state_dir'") }
        if let node = map["log_level"] {
            config.logLevel = try node.string("'log_level'")
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(config.logLevel) else {
                throw node.error("unknown log level '\(config.logLevel)' (expected one of: \(levels.joined(separator: ", ")))")
            }
        }
        if let node = map["mqtt"] { config.mqtt = try parseMQTT(node) }
        if let node = map["pool"] { config.pool = try parsePool(node) }
        if let node = map["admin"] { config.admin = try parseAdmin(node) }
        if let node = map["shutdown_timeout"] { config.shutdownTimeout = try duration(node, "'shutdown_timeout'") }
        if let node = map["rules_watch_interval"] { config.rulesWatchInterval = try duration(node, "'rules_watch_interval'") }
        if let node = map["upstreams"] { config.upstreams = try parseUpstreams(node, gatewayID: config.gatewayID) }
        if let node = map["commit_interval"] { config.commitInterval = try duration(node, "'commit_interval'") }
        if let node = map["max_hops"] { config.maxHops = try bounded(node, "'max_hops'", 1...100) }
        if let node = map["dead_letters"] { config.deadLetters = try parseDeadLetters(node) }
        return config
    }

    static func parseMQTT(_ node: YAMLNode) throws(Diagnostic) -> WeirConfig.MQTT {
        var mqtt = WeirConfig.MQTT()
        let map = try node.mapping("'mqtt'")
        try map.checkKeys(
            [
                "host", "port", "client_id", "username", "password_file", "qos", "clean_session", "keepalive", "tls", "buffer",
                "buffer_bytes", "max_payload", "ack", "protocol", "session_expiry", "receive_maximum", "share_group",
            ],
            in: "'mqtt'")
        if let n = map["host"] { mqtt.host = try n.string("'host'") }
        if let n = map["port"] { mqtt.port = try bounded(n, "'port'", 1...65535) }
        if let n = map["client_id"] { mqtt.clientID = try n.string("'client_id'") }
        if let n = map["username"] { mqtt.username = try n.string("'username'") }
        if let n = map["password_file"] { mqtt.passwordFile = try filePath(n, "'password_file'") }
        if let n = map["qos"] { mqtt.qos = try bounded(n, "'qos'", 0...2) }
        if let n = map["clean_session"] { mqtt.cleanSession = try n.bool("'clean_session'") }
        if let n = map["keepalive"] { mqtt.keepAliveSeconds = try keepalive(n) }
        if let n = map["buffer"] { mqtt.buffer = try bounded(n, "'buffer'", 1...1_000_000) }
        if let n = map["buffer_bytes"] { mqtt.bufferBytes = try byteSize(n, "'buffer_bytes'") }
        if let n = map["max_payload"] { mqtt.maxPayloadBytes = try byteSize(n, "'max_payload'") }
        if let n = map["tls"] { mqtt.tls = try parseTLS(n) }
        if let n = map["ack"] {
            let value = try n.string("'ack'")
            guard let mode = WeirConfig.AckMode(rawValue: value) else {
                throw n.error("'ack' must be 'durable' or 'receipt', not '\(value)'")
            }
            mqtt.ack = mode
        }
        if let n = map["protocol"] { mqtt.protocolVersion = try protocolVersion(n) }
        // Durations stop at 36500d, inside the property's four bytes of seconds.
        if let n = map["session_expiry"] { mqtt.sessionExpiry = try duration(n, "'session_expiry'") }
        if let n = map["receive_maximum"] { mqtt.receiveMaximum = try bounded(n, "'receive_maximum'", 1...65_535) }
        if let n = map["share_group"] {
            let group = try n.string("'share_group'")
            // A share name is one topic level: no '/', no wildcards (MQTT 5, 4.8.2).
            guard !group.isEmpty, !group.contains(where: { "/+#\u{0}".contains($0) }) else {
                throw n.error("'share_group' must be a name without '/', '+', '#' or NUL, found '\(group)'")
            }
            mqtt.shareGroup = group
        }
        return mqtt
    }

    /// `protocol: 3.1.1` (the default) or `protocol: 5`.
    static func protocolVersion(_ node: YAMLNode) throws(Diagnostic) -> MQTTProtocolVersion {
        switch try node.string("'protocol'") {
        case "3.1.1", "311": return .v311
        case "5", "5.0": return .v5
        case let other: throw node.error("'protocol' must be 3.1.1 or 5, found '\(other)'")
        }
    }

    static func parseTLS(_ node: YAMLNode) throws(Diagnostic) -> MQTTConfiguration.TLS {
        var tls = MQTTConfiguration.TLS()
        let map = try node.mapping("'tls'")
        try map.checkKeys(["ca_file", "ca_path", "cert_file", "key_file", "insecure"], in: "'tls'")
        if let n = map["ca_file"] { tls.caFile = try filePath(n, "'ca_file'") }
        if let n = map["ca_path"] { tls.caPath = try n.string("'ca_path'") }
        if let n = map["cert_file"] { tls.certFile = try filePath(n, "'cert_file'") }
        if let n = map["key_file"] { tls.keyFile = try filePath(n, "'key_file'") }
        if let n = map["insecure"] { tls.insecureSkipVerify = try n.bool("'insecure'") }
        guard tls.caFile != nil || tls.caPath != nil else { throw node.error("'tls' needs 'ca_file' or 'ca_path' to verify the broker") }
        guard (tls.certFile == nil) == (tls.keyFile == nil) else { throw node.error("'cert_file' and 'key_file' go together") }
        return tls
    }

    static func parsePool(_ node: YAMLNode) throws(Diagnostic) -> ActionPool.Configuration {
        var pool = ActionPool.Configuration()
        let map = try node.mapping("'pool'")
        try map.checkKeys(["max_concurrency", "max_queued", "max_pipelined", "max_retrying", "max_retrying_bytes"], in: "'pool'")
        if let n = map["max_concurrency"] { pool.maxConcurrency = try bounded(n, "'max_concurrency'", 1...4096) }
        if let n = map["max_queued"] { pool.maxQueued = try bounded(n, "'max_queued'", 1...10_000_000) }
        if let n = map["max_pipelined"] { pool.maxPipelined = try bounded(n, "'max_pipelined'", 1...1_000_000) }
        if let n = map["max_retrying"] { pool.maxRetrying = try bounded(n, "'max_retrying'", 1...10_000_000) }
        if let n = map["max_retrying_bytes"] { pool.maxRetryingBytes = try byteSize(n, "'max_retrying_bytes'") }
        return pool
    }

    static func parseAdmin(_ node: YAMLNode) throws(Diagnostic) -> WeirConfig.Admin {
        var admin = WeirConfig.Admin()
        let map = try node.mapping("'admin'")
        try map.checkKeys(["listen", "token_file"], in: "'admin'")
        if let n = map["token_file"] {
            let path = try filePath(n, "'token_file'")
            guard SecretFile.credentialName(path) != nil || FileManager.default.isReadableFile(atPath: path) else {
                throw n.error("cannot read token file '\(path)'")
            }
            admin.readTokenFile = path
        }
        guard let n = map["listen"] else { return admin }
        let listen = try n.string("'listen'")
        if listen == "off" || listen.isEmpty {
            admin.host = nil
            return admin
        }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port)
        else {
            throw n.error("'listen' must be HOST:PORT (for example 127.0.0.1:9110) or 'off'")
        }
        admin.host = listen[..<colon].trimmingScalars { $0 == "[" || $0 == "]" }
        admin.port = port
        return admin
    }

    /// `dead_letters: { max_bytes, max_count }`; either may be `none`. Sizes as for `queue.max_bytes`.
    static func parseDeadLetters(_ node: YAMLNode) throws(Diagnostic) -> DeadLetterLimits {
        let map = try node.mapping("'dead_letters'")
        try map.checkKeys(["max_bytes", "max_count"], in: "'dead_letters'")
        var limits = DeadLetterLimits()
        if let n = map["max_bytes"] {
            limits.maxBytes = try n.string("'max_bytes'") == "none" ? nil : UInt64(try byteSize(n, "'max_bytes'"))
            guard limits.maxBytes != 0 else { throw n.error("'max_bytes' must be more than 0 (or none)") }
        }
        if let n = map["max_count"] {
            limits.maxCount = try n.string("'max_count'") == "none" ? nil : try bounded(n, "'max_count'", 1...100_000_000)
        }
        return limits
    }

    static func bounded(_ node: YAMLNode, _ what: String, _ range: ClosedRange<Int>) throws(Diagnostic) -> Int {
        let value = try node.int(what)
        guard range.contains(value) else {
            throw node.error("\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        return value
    }

    static func duration(_ node: YAMLNode, _ what: String) throws(Diagnostic) -> Duration {
        let text = try node.string(what)
        guard let value = parseDuration(text) else {
            throw node.error("\(what) must be a duration such as 500ms, 10s, 5m (at most 36500d), found '\(text)'")
        }
        return value
    }

    static func byteSize(_ node: YAMLNode, _ what: String) throws(Diagnostic) -> Int {
        let text = try node.string(what)
        guard let value = parseByteSize(text) else {
            throw node.error("\(what) must be a size such as 512KiB or 1MiB (at most 1048576GiB), found '\(text)'")
        }
        return value
    }

    /// An MQTT keepalive: whole seconds, at most 65535 (the protocol's two-byte field).
    static func keepalive(_ node: YAMLNode) throws(Diagnostic) -> Int {
        let seconds = try duration(node, "'keepalive'").milliseconds / 1000
        guard seconds <= 65_535 else { throw node.error("'keepalive' must be at most 65535s (MQTT's limit), found \(seconds)s") }
        return Int(seconds)
    }
}
