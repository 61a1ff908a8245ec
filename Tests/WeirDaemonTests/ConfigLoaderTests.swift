import Testing
import WeirCore
import WeirRules

@testable import WeirDaemon

func configError(_ yaml: String) -> String? {
    do {
        _ = try ConfigLoader.parse(yaml, file: "w.yaml")
        return nil
    } catch {
        return error.description
    }
}

@Suite struct ConfigLoaderTests {
    @Test func parsesTheIssueExample() throws {
        let config = try ConfigLoader.parse(
            """
            gateway_id: gw-01
            rules_dir: /etc/weir/rules
            state_dir: /var/lib/weir
            mqtt: { host: 127.0.0.1, port: 1883, client_id: weir-gw-01, qos: 1, clean_session: false }
            pool: { max_concurrency: 8, max_queued: 10000 }
            admin: { listen: 127.0.0.1:9110 }
            """, file: "w.yaml")
        #expect(config.gatewayID == "gw-01")
        #expect(config.mqtt.clientID == "weir-gw-01")
        #expect(config.mqtt.qos == 1)
        #expect(config.mqtt.cleanSession == false)
        #expect(config.pool.maxConcurrency == 8)
        #expect(config.pool.maxQueued == 10000)
        #expect(config.admin.host == "127.0.0.1")
        #expect(config.admin.port == 9110)
    }

    @Test func defaultsAndDerivedClientID() throws {
        let config = try ConfigLoader.parse("gateway_id: edge-7\n", file: "w.yaml")
        #expect(config.effectiveClientID == "weir-edge-7")
        #expect(config.mqtt.cleanSession == false, "persistent session by default")
        #expect(config.mqtt.tls == nil)
        #expect(try ConfigLoader.parse("", file: "w.yaml").rulesDir == "/etc/weir/rules")
    }

    @Test func sizesDurationsTLSAndAdminOff() throws {
        let config = try ConfigLoader.parse(
            """
            mqtt: { max_payload: 64KiB, keepalive: 1m, tls: { ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem } }
            admin: { listen: "off" }
            shutdown_timeout: 500ms
            """, file: "w.yaml")
        #expect(config.mqtt.maxPayloadBytes == 65536)
        #expect(config.mqtt.keepAliveSeconds == 60)
        #expect(config.mqtt.tls?.caFile == "/ca.pem")
        #expect(config.mqtt.tls?.insecureSkipVerify == false)
        #expect(config.admin.host == nil)
        #expect(config.shutdownTimeout == .milliseconds(500))
    }

    @Test func errorsPointAtFileLineAndColumn() {
        #expect(configError("gateway_id: gw\nmqtt:\n  prot: 1883\n")?.hasPrefix("w.yaml:3:3: unknown key 'prot' in 'mqtt'") == true)
        #expect(configError("mqtt: { port: http }\n")?.hasPrefix("w.yaml:1:15: 'port' must be an integer, found 'http'") == true)
        #expect(configError("mqtt: { port: 70000 }\n")?.contains("'port' must be between 1 and 65535") == true)
        #expect(configError("mqtt: { qos: 3 }\n")?.contains("'qos' must be between 0 and 2") == true)
        #expect(configError("pool: { max_concurrency: 0 }\n")?.contains("'max_concurrency' must be between") == true)
        #expect(configError("admin: { listen: nowhere }\n")?.hasPrefix("w.yaml:1:18: 'listen' must be HOST:PORT") == true)
        #expect(configError("shutdown_timeout: soon\n")?.contains("must be a duration") == true)
        // Out of range: reported with the position, never a trap.
        #expect(configError("shutdown_timeout: 1e300d\n")?.hasPrefix("w.yaml:1:19: 'shutdown_timeout' must be a duration") == true)
        #expect(configError("mqtt: { max_payload: infMiB }\n")?.hasPrefix("w.yaml:1:22: 'max_payload' must be a size") == true)
        #expect(configError("mqtt: { keepalive: 30000d }\n")?.contains("'keepalive' must be at most 65535s") == true)
        #expect(configError("pool: { max_retrying_bytes: 9223372036854775807 }\n")?.contains("must be a size") == true)
        #expect(configError("mqtt: { tls: { cert_file: /c.pem } }\n")?.contains("needs 'ca_file' or 'ca_path'") == true)
        #expect(configError("mqtt: [1, 2]\n")?.hasPrefix("w.yaml:1:7: 'mqtt' must be a mapping") == true)
        #expect(configError("gateway_id: 'a b'\n")?.contains("'gateway_id' may contain only") == true)
        #expect(configError("log_level: loud\n")?.contains("unknown log level 'loud'") == true)
        #expect(
            configError("upstreams:\n  c:\n    mqtt: { host: h, topic: \"weir/+/events\" }\n")?
                .hasPrefix("w.yaml:3:29: upstream topic 'weir/+/events' must be a topic name") == true)
        #expect(
            configError("mqtt: { password_file: \"credential:../x\" }\n")?
                .contains("credential name '../x' must be a file name") == true)
        #expect(configError("mqtt: { buffer_bytes: lots }\n")?.contains("'buffer_bytes' must be a size") == true)
        #expect(configError("mqtt: {\n")?.contains("invalid YAML") == true)
    }
}

@Suite struct DryRunTests {
    @Test func reportsMatchesRowsActionsAndNonMatches() throws {
        let (rules, errors) = RuleLoaderFixture.parse(
            """
            rules:
              - { name: hot, sql: 'SELECT device, temp FROM "s/+" WHERE temp > 80',
                  actions: [ { publish: { topic: "a/${device}", qos: 1 } } ] }
              - { name: cold, sql: 'SELECT device FROM "s/+" WHERE temp < 0', actions: [ { log: {} } ] }
            """)
        try #require(errors.isEmpty)
        let report = DryRun.report(rules: rules, topic: "s/1", payload: Array(#"{"device":"d","temp":90}"#.utf8))
        #expect(report.matched == 1)
        #expect(report.text.contains("rule hot: matched"))
        #expect(report.text.contains("publish to 'a/d' qos=1 retain=false"))
        #expect(report.text.contains("rule cold: topic matches, WHERE does not"))
        #expect(DryRun.report(rules: rules, topic: "other", payload: []).text.contains("no rule subscribes"))
        #expect(DryRun.report(rules: rules, topic: "s/1", payload: Array("nope".utf8)).text.contains("payload rejected"))
    }
}

enum RuleLoaderFixture {
    static func parse(_ text: String) -> (RuleSet, [Diagnostic]) {
        let (rules, errors) = RuleLoader.parse(text, file: "r.yaml")
        return (RuleSet(rules: rules), errors)
    }
}

@Suite struct GatewayIdentityTests {
    /// Without `gateway_id`, gateways installed from one package still get distinct ids (and so
    /// distinct MQTT client ids and CloudEvent sources).
    @Test func anUnsetGatewayIDIsUniquePerMachine() throws {
        let machine = "0123abcdef4567890123abcdef456789\n"
        #expect(MachineIdentity.gatewayID(hostname: "raspberrypi", machineID: machine) == "raspberrypi-0123abcd")
        #expect(MachineIdentity.gatewayID(hostname: "gw 01.site/a", machineID: machine) == "gw-01.site-a-0123abcd")
        #expect(MachineIdentity.gatewayID(hostname: "gw-01", machineID: nil) == "gw-01")
        #expect(MachineIdentity.gatewayID(hostname: nil, machineID: machine) == "weir-0123abcd")
        #expect(MachineIdentity.gatewayID(hostname: "", machineID: "") == "weir")
        let config = try ConfigLoader.parse("mqtt: { host: 127.0.0.1 }\n", file: "w.yaml")
        #expect(config.gatewayID == MachineIdentity.defaultGatewayID)
        #expect(config.effectiveClientID == "weir-\(MachineIdentity.defaultGatewayID)")
        #expect(try ConfigLoader.parse("gateway_id: gw-7\n", file: "w.yaml").effectiveClientID == "weir-gw-7")
    }
}

/// MQTT 5 and shared subscription settings (issue 14).
@Suite struct MQTT5ConfigTests {
    @Test func defaultsStayMQTT311WithTheV5SettingsReady() throws {
        let config = try ConfigLoader.parse("mqtt: { port: 1883 }", file: "w.yaml")
        #expect(config.mqtt.protocolVersion == .v311)
        #expect(config.mqtt.sessionExpiry == .seconds(7 * 86_400))
        #expect(config.mqtt.receiveMaximum == 1000)
        #expect(config.mqtt.shareGroup == nil)
        #expect(config.mqtt.maximumPacketSize == UInt32(256 * 1024 + WeirConfig.packetOverheadBytes))
    }

    @Test func parsesProtocolSessionExpiryReceiveMaximumAndShareGroup() throws {
        let config = try ConfigLoader.parse(
            """
            mqtt: { protocol: 5, session_expiry: 1h, receive_maximum: 50, share_group: weir, max_payload: 1MiB }
            upstreams:
              cloud:
                mqtt: { host: cloud.example, protocol: 5 }
            """, file: "w.yaml")
        #expect(config.mqtt.protocolVersion == .v5)
        #expect(config.mqtt.sessionExpiry == .seconds(3600))
        #expect(config.mqtt.receiveMaximum == 50)
        #expect(config.mqtt.shareGroup == "weir")
        #expect(config.mqtt.maximumPacketSize == UInt32((1 << 20) + WeirConfig.packetOverheadBytes))
        guard case .mqtt(let upstream) = config.upstreams.first?.transport else {
            Issue.record("no MQTT upstream")
            return
        }
        #expect(upstream.protocolVersion == .v5)
        #expect(try ConfigLoader.parse("mqtt: { protocol: 3.1.1 }", file: "w.yaml").mqtt.protocolVersion == .v311)
    }

    @Test func refusesWhatMQTTCannotCarry() {
        #expect(configError("mqtt: { protocol: 4 }") == "w.yaml:1:19: 'protocol' must be 3.1.1 or 5, found '4'")
        #expect(configError("mqtt: { receive_maximum: 0 }")?.contains("between 1 and 65535") == true)
        #expect(configError("mqtt: { receive_maximum: 65536 }")?.contains("between 1 and 65535") == true)
        #expect(configError("mqtt: { share_group: a/b }")?.contains("'share_group' must be a name without '/'") == true)
        #expect(configError("mqtt: { share_group: '#' }")?.contains("'share_group' must be a name") == true)
    }
}
