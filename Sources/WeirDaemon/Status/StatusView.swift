import WeirCore

/// `weir status`'s screen: the `/status` report as a person reads it at a glance.
public enum StatusView {
    public static func render(_ status: JSONValue) -> String {
        var lines: [String] = []
        let healthy = status["healthy"] == .bool(true)
        let version = status["version"]?.stringValue ?? "?"
        let uptime = duration(status["uptime_seconds"]?.intValue ?? 0)
        lines.append(
            "weir \(version), gateway \(status["gateway_id"]?.stringValue ?? "?"), up \(uptime): \(healthy ? "HEALTHY" : "DEGRADED")")
        let broker = status["broker"]
        lines.append(
            "broker      \(broker?["address"]?.stringValue ?? "?") "
                + (broker?["connected"] == .bool(true) ? "connected" : "NOT CONNECTED")
                + ", \(status["events_in"]?.intValue ?? 0) events in")
        let store = status["store"]
        let writable = store?["writable"] == .bool(true)
        lines.append(
            "store       \(bytes(store?["bytes"]?.intValue ?? 0)), "
                + (writable ? "writable" : "NOT WRITABLE: \(store?["problem"]?.stringValue ?? "?")"))
        let rules = status["rules"]
        var ruleLine = "rules       \(rules?["loaded"]?.intValue ?? 0) loaded, \(rules?["scheduled"]?.intValue ?? 0) scheduled"
        if let reload = rules?["last_reload"] {
            let ok = reload["ok"] == .bool(true)
            ruleLine += "; last reload \(reload["at"]?.stringValue ?? "?") (\(reload["reason"]?.stringValue ?? "?")): "
            ruleLine += ok ? "ok" : "REJECTED, \(reload["errors"]?.intValue ?? 0) error(s): \(reload["first_error"]?.stringValue ?? "")"
        } else {
            ruleLine += "; no reload since start"
        }
        lines.append(ruleLine)
        if case .array(let activity)? = rules?["activity"]?["rules"], !activity.isEmpty {
            let window = rules?["activity"]?["window_seconds"]?.intValue ?? 0
            lines.append("  busiest over the last \(window) s:")
            for rule in activity {
                let errors = rule["errors"]?.intValue ?? 0
                lines.append(
                    "    \(pad(rule["rule"]?.stringValue ?? "?", 28)) \(rule["matched_per_second"]?.doubleValue ?? 0) matched/s"
                        + (errors > 0 ? ", \(errors) ERRORS" : ""))
            }
        }
        if case .array(let upstreams)? = status["upstreams"] {
            for upstream in upstreams {
                let age = upstream["oldest_age_seconds"]?.intValue.map { ", oldest \(duration($0))" } ?? ""
                lines.append(
                    "upstream    \(upstream["name"]?.stringValue ?? "?"): "
                        + (upstream["connected"] == .bool(true) ? "connected" : "NOT CONNECTED")
                        + ", \(upstream["depth"]?.intValue ?? 0) queued (\(bytes(upstream["bytes"]?.intValue ?? 0)))\(age)")
            }
        }
        lines.append("dead letters \(status["dead_letters"]?.intValue ?? 0)")
        let functions = status["functions"]
        lines.append(
            "functions   \(functions?["declared"]?.intValue ?? 0) declared, \(functions?["in_flight"]?.intValue ?? 0) running, "
                + "\(functions?["workers"]?.intValue ?? 0) workers, \(functions?["failures"]?.intValue ?? 0) failures since start")
        if case .array(let schedules)? = status["schedules"], !schedules.isEmpty {
            lines.append(
                "next runs   "
                    + schedules.prefix(5).map { "\($0["rule"]?.stringValue ?? "?") at \($0["next_run"]?.stringValue ?? "?")" }
                    .joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    static func duration(_ seconds: Int) -> String {
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
        default: return "\(seconds / 86400)d\(seconds % 86400 / 3600)h"
        }
    }

    static func bytes(_ count: Int) -> String {
        switch count {
        case ..<10_240: return "\(count) B"
        case ..<10_485_760: return "\(count / 1024) KiB"
        default: return "\(count / 1_048_576) MiB"
        }
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
