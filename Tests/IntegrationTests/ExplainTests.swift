import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `weir explain` through the real binary: why each rule did or did not match one message.
@Suite struct ExplainTests {
    static let rules = """
        rules:
          - name: hot
            sql: >-
              SELECT device, temp FROM "sensors/+/telemetry"
              WHERE temp > 80 AND status = 'ok' AND (CASE WHEN a > 1 AND b > 1 THEN true ELSE true END)
              AND humidity BETWEEN 10 AND 90
            actions:
              - publish: { topic: "alerts/${device}", qos: 1 }
          - name: vibration
            sql: SELECT machine, avg(rms) AS rms FROM "machines/+/vibration" GROUP BY machine, TUMBLING(10s)
            event_time: { field: ts, lateness: 2s }
            actions:
              - log: {}
        """

    func explain(_ arguments: [String]) throws -> String {
        let fixture = try BinaryFixture(name: "explain", brokerPort: 1, rules: ["r.yaml": Self.rules])
        let result = try runWeir(["explain", "--config", fixture.config.path] + arguments, in: fixture.dir)
        #expect(result.status == 0, "\(result.output)")
        return result.output
    }

    @Test func eachTermOfWhereSaysWhatItCameTo() throws {
        let out = try explain(["--topic", "sensors/s1/telemetry", "--payload", #"{"device":"d1","temp":91,"humidity":95}"#])
        #expect(out.contains("rule hot ("))
        #expect(out.contains(#"FROM "sensors/+/telemetry": matches 'sensors/s1/telemetry'"#))
        #expect(out.contains("WHERE: does not hold"))
        #expect(out.contains("    temp > 80: true"))
        #expect(out.contains("    status = 'ok': null (missing or null: status)"))
        #expect(out.contains("    (CASE WHEN a > 1 AND b > 1 THEN true ELSE true END): true"), "an AND inside CASE is not split: \(out)")
        #expect(out.contains("    humidity BETWEEN 10 AND 90: false"), "BETWEEN's AND is not split: \(out)")
        #expect(out.contains("1 other rule(s): FROM does not match"))

        let matched = try explain([
            "--topic", "sensors/s1/telemetry", "--payload", #"{"device":"d1","temp":91,"humidity":50,"status":"ok"}"#,
        ])
        #expect(matched.contains("WHERE: holds"))
        #expect(matched.contains(#"row: {"device":"d1","temp":91}"#))
        #expect(matched.contains("action: publish to 'alerts/d1' qos=1"))

        let typeError = try explain(["--topic", "sensors/s1/telemetry", "--payload", #"{"temp":"hot"}"#, "--rule", "hot"])
        #expect(typeError.contains("temp > 80: error: cannot compare string with int"), "\(typeError)")
    }

    @Test func aWindowedRuleShowsItsGroupWindowAndLateness() throws {
        let onTime = try explain([
            "--topic", "machines/m7/vibration", "--payload", #"{"machine":"m7","rms":0.4,"ts":"2099-06-10T10:00:03.250Z"}"#,
        ])
        #expect(onTime.contains(#"group: ["m7"]"#), "\(onTime)")
        #expect(onTime.contains("the one from 2099-06-10T10:00:00.000Z to 2099-06-10T10:00:10.000Z"))
        #expect(onTime.contains("allowed lateness 2000 ms: on time"))
        let late = try explain([
            "--topic", "machines/m7/vibration", "--payload", #"{"machine":"m7","rms":0.4,"ts":"2024-06-10T10:00:03.250Z"}"#,
        ])
        #expect(late.contains("late if the daemon has seen events up to now"), "\(late)")
        let other = try explain(["--topic", "machines/m7/vibration", "--payload", "{}", "--rule", "hot"])
        #expect(other.contains(#"rule hot ("#) && other.contains("does not match topic 'machines/m7/vibration'"))
    }
}
