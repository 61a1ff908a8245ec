import ArgumentParser
import WeirDaemon

/// `weir explain`: `weir test`'s dry run, saying why each rule did or did not match.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Dry-run one message and say why, rule by rule: FROM, each term of WHERE, the row, the window. Connects nowhere.")

    @OptionGroup var options: ConfigOption
    @Option(help: "Topic of the test message.") var topic: String
    @Option(help: "Payload of the test message (JSON text).") var payload: String
    @Option(help: "QoS the message is treated as having.") var qos = 0
    @Option(help: "Explain only this rule (also when its FROM does not match).") var rule: String?

    func run() throws {
        let config = try options.load()
        let rules = try loadRules(config)
        print(
            Explain.report(
                rules: rules, topic: topic, payload: Array(payload.utf8), qos: qos, rule: rule, maxPayloadBytes: config.mqtt.maxPayloadBytes
            ))
    }
}
