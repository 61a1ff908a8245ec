import WeirCore
import WeirRules

/// What `weir check` says about a shared subscription (`mqtt.share_group`): what each instance
/// must have of its own, and the rules whose state needs every event of a group on one instance.
public func scalingFindings(config: WeirConfig, rules: RuleSet) -> [String] {
    guard let group = config.mqtt.shareGroup else { return [] }
    var findings = [
        "\(config.path): note: mqtt.share_group '\(group)' subscribes to $share/\(group)/<filter>: the broker splits the events "
            + "among the instances of the group. Each instance needs its own gateway_id (CloudEvent ids and sources stay unique "
            + "as long as the gateway ids differ), its own mqtt.client_id (a shared id makes the broker drop one connection for "
            + "the other) and its own state_dir (outbox, windows and journal)."
    ]
    for rule in rules.rules where rule.query.grouping != nil {
        findings.append(
            "\(rule.location): warning: rule '\(rule.name)' keeps windows (GROUP BY) under mqtt.share_group '\(group)': each "
                + "instance sees only its share of the events, so a window counts part of its group. Partition the topics per "
                + "instance, use a broker strategy that keeps a topic on one member, or aggregate upstream "
                + "(docs/operations.md, 'Scaling out').")
    }
    for rule in rules.rules where !rule.query.stateful.isEmpty {
        let calls = rule.query.stateful.map(\.kind.rawValue)
        findings.append(
            "\(rule.location): warning: rule '\(rule.name)' keeps history per partition (\(calls.joined(separator: ", "))) under "
                + "mqtt.share_group '\(group)': each instance sees only its share of a device's events, so report by exception "
                + "and lag compare with readings the other instances took. Partition the topics per instance, use a broker "
                + "strategy that keeps a topic on one member, or aggregate upstream (docs/operations.md, 'Scaling out').")
    }
    return findings
}
