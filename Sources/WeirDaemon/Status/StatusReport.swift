import Glibc
import WeirCore
import WeirEngine
import WeirMQTT
import WeirRules
import WeirStore

/// What `GET /status` reports (`weir status`): read from the running daemon, one JSON document.
struct StatusReport: Sendable {
    let config: WeirConfig
    let version: String
    let startedAt: Int64
    let ingest: MQTTClient
    let storeHealth: StoreHealth
    let rules: LiveRules
    let outboxes: [String: Outbox]
    let deadLetters: DeadLetters?
    let metrics: DaemonMetrics
    let activity: RuleActivity
    let stateDirectory: String
    let taps: TapHub
    let history: StatusHistory
    let recent: RecentLog?

    /// Rules listed by activity: the busiest, and every rule with errors.
    static let busiestRules = 20
    static let series: Set<String> = RuleActivity.series.union([
        "weir_upstream_connected", "weir_function_in_flight", "weir_function_failures_total", "weir_function_invocations_total",
        "weir_schedule_next_run_timestamp_seconds", "weir_events_in_total", "weir_pool_queue_depth",
    ])

    /// The report. Reads outbox stats from the store: call it off the cooperative pool.
    func json(now: Int64 = currentTimeMillis()) -> JSONValue {
        let samples = MetricSamples(metrics.exposition(), names: Self.series)
        let connected = ingest.isConnected
        let problem = storeHealth.problem
        let ruleSet = rules.current
        var report: JSONObject = [
            "version": .string(version), "gateway_id": .string(config.gatewayID),
            "uptime_seconds": .int((now - startedAt) / 1000), "healthy": .bool(connected && problem == nil),
            "broker": ["connected": .bool(connected), "address": .string("\(config.mqtt.host):\(config.mqtt.port)")],
            "events_in": .int(Int64(samples.total("weir_events_in_total"))),
            "store": [
                "writable": .bool(problem == nil), "problem": problem.map(JSONValue.string) ?? .null,
                "bytes": .int(Int64(directoryBytes(stateDirectory + "/store"))),
            ],
        ]
        var rulesJSON: JSONObject = ["loaded": .int(Int64(ruleSet.rules.count)), "scheduled": .int(Int64(ruleSet.schedules.count))]
        if let reload = rules.lastReload {
            rulesJSON["last_reload"] = [
                "at": .string(rfc3339(millis: reload.at)), "reason": .string(reload.reason), "ok": .bool(reload.succeeded),
                "errors": .int(Int64(reload.errors)), "first_error": reload.firstError.map(JSONValue.string) ?? .null,
            ]
        }
        rulesJSON["activity"] = activity(samples, now: now)
        report["rules"] = .object(rulesJSON)
        report["upstreams"] = .array(upstreams(samples, now: now))
        report["dead_letters"] = .int(Int64(deadLetters?.count ?? 0))
        report["taps_open"] = .int(Int64(taps.openTaps))
        report["functions"] = functions(samples, ruleSet)
        report["schedules"] = .array(
            samples.by("weir_schedule_next_run_timestamp_seconds", label: "rule").sorted { $0.value < $1.value }.prefix(10).map {
                ["rule": .string($0.key), "next_run": .string(rfc3339(millis: Int64($0.value * 1000)))]
            })
        return .object(report)
    }

    private func activity(_ samples: MetricSamples, now: Int64) -> JSONValue {
        guard let rates = activity.rates(samples, now: now) else { return ["window_seconds": .null, "rules": []] }
        let busiest = rates.matchedPerSecond.filter { $0.value > 0 }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .prefix(Self.busiestRules).map(\.key)
        let listed = Array(Set(busiest).union(rates.errors.keys)).sorted {
            (rates.matchedPerSecond[$0] ?? 0, $1) > (rates.matchedPerSecond[$1] ?? 0, $0)
        }
        return [
            "window_seconds": .int(Int64(rates.seconds)),
            "rules": .array(
                listed.map { rule in
                    [
                        "rule": .string(rule), "matched_per_second": .double(((rates.matchedPerSecond[rule] ?? 0) * 100).rounded() / 100),
                        "errors": .int(Int64(rates.errors[rule] ?? 0)),
                    ]
                }),
        ]
    }

    private func upstreams(_ samples: MetricSamples, now: Int64) -> [JSONValue] {
        let connected = samples.by("weir_upstream_connected", label: "upstream")
        return outboxes.keys.sorted().compactMap { name in
            guard let outbox = outboxes[name], let stats = try? outbox.stats() else { return nil }
            return [
                "name": .string(name), "connected": .bool((connected[name] ?? 0) > 0), "depth": .int(Int64(stats.depth)),
                "bytes": .int(Int64(stats.bytes)),
                "oldest_age_seconds": stats.oldestAppendedAt.map { .int(max(0, now - $0) / 1000) } ?? .null,
                "sent": .int(Int64(stats.sent)), "dropped": .int(Int64(stats.dropped + stats.expired)),
                "classes": .object(JSONObject(stats.classes.map { ("\($0.priority)", .int(Int64($0.depth))) })),
            ]
        }
    }

    private func functions(_ samples: MetricSamples, _ ruleSet: RuleSet) -> JSONValue {
        let workers = ruleSet.functions.values.reduce(0) { total, function in
            if case .worker = function.runtime { return total + function.concurrency }
            return total
        }
        return [
            "declared": .int(Int64(ruleSet.functions.count)), "in_flight": .int(Int64(samples.total("weir_function_in_flight"))),
            "invocations": .int(Int64(samples.total("weir_function_invocations_total"))),
            "failures": .int(Int64(samples.total("weir_function_failures_total"))), "workers": .int(Int64(workers)),
        ]
    }
}

/// The bytes of the regular files under `path` (the store's SST, WAL and manifest files).
func directoryBytes(_ path: String) -> UInt64 {
    guard let directory = opendir(path) else { return 0 }
    defer { closedir(directory) }
    var total: UInt64 = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var info = stat()
        if stat(path + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { total += UInt64(info.st_size) }
    }
    return total
}
