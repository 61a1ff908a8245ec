import WeirCore

/// Saving and restoring open windows: each group as one JSON value, so window state can be
/// checkpointed (compressed, in RocksDB) and resumed after a restart or a crash.
extension AggregateState {
    var json: JSONValue {
        switch self {
        case .count(let n): return ["c", .int(n)]
        case .sum(let i, let d, let isDouble, let seen): return ["s", .int(i), .double(d), .bool(isDouble), .bool(seen)]
        case .moments(let n, let mean, let m2): return ["m", .int(n), .double(mean), .double(m2)]
        case .extreme(let value): return ["x", value]
        case .edge(let value): return ["e", value]
        case .reservoir(let seen, let values): return ["r", .int(seen), .array(values.map { .double($0) })]
        // Hashes as bit patterns: JSON numbers are signed.
        case .sketch(let hashes): return ["k", .array(hashes.map { .int(Int64(bitPattern: $0)) })]
        case .items(let items, let dropped): return ["i", .array(items), .int(dropped)]
        }
    }

    init?(json: JSONValue) {
        guard case .array(let a) = json, case .string(let tag)? = a.first else { return nil }
        // Counts as Weir writes them: never negative, never near the top of Int64, where the next
        // `+ 1` would trap (a damaged or forged state, found by fuzzing).
        func count(_ i: Int) -> Int64? { int(i).flatMap { (0...maxStoredCount).contains($0) ? $0 : nil } }
        func int(_ i: Int) -> Int64? { i < a.count ? a[i].intValue.map(Int64.init) : nil }
        func double(_ i: Int) -> Double? { i < a.count ? a[i].doubleValue : nil }
        func bool(_ i: Int) -> Bool? { if i < a.count, case .bool(let b) = a[i] { return b } else { return nil } }
        func array(_ i: Int) -> [JSONValue]? { if i < a.count, case .array(let v) = a[i] { return v } else { return nil } }
        switch tag {
        case "c":
            guard let n = count(1) else { return nil }
            self = .count(n)
        case "s":
            guard let i = int(1), let d = double(2), let isDouble = bool(3), let seen = bool(4) else { return nil }
            self = .sum(int: i, double: d, isDouble: isDouble, seen: seen)
        case "m":
            guard let n = count(1), let mean = double(2), let m2 = double(3) else { return nil }
            self = .moments(count: n, mean: mean, m2: m2)
        case "x":
            guard a.count == 2 else { return nil }
            self = .extreme(a[1])
        case "e":
            guard a.count == 2 else { return nil }
            self = .edge(a[1])
        case "r":
            guard let seen = count(1), let values = array(2) else { return nil }
            self = .reservoir(seen: seen, values: values.compactMap(\.doubleValue))
        case "k":
            guard let hashes = array(1) else { return nil }
            self = .sketch(hashes.compactMap { $0.intValue.map { UInt64(bitPattern: Int64($0)) } })
        case "i":
            guard let items = array(1), let dropped = count(2) else { return nil }
            self = .items(items, dropped: dropped)
        default: return nil
        }
    }
}

/// The largest count a stored window state may hold (2^53: what a JSON number keeps exactly).
let maxStoredCount: Int64 = 1 << 53
/// The times a stored window state may hold: epoch milliseconds from 1970 to the year 9999.
let storedTimes: ClosedRange<Int64> = 0...253_402_300_799_999

extension WindowOperator.Group {
    /// The group as JSON: `{start, end, keys, states, buffer, events, last}`.
    public var json: JSONValue {
        [
            "start": .int(start), "end": .int(end), "keys": .array(keys), "states": .array(states.map(\.json)),
            "buffer": .array(buffer.map { entry in .array([.int(entry.time), .array(entry.values.map { $0 ?? "*" })]) }),
            "events": .int(Int64(events)), "last": .int(lastEvent),
        ]
    }

    public init?(json: JSONValue) {
        guard case .int(let start)? = json["start"], case .int(let end)? = json["end"], case .array(let keys)? = json["keys"],
            case .array(let states)? = json["states"], case .array(let buffer)? = json["buffer"], case .int(let events)? = json["events"],
            case .int(let last)? = json["last"]
        else { return nil }
        // Times as Weir writes them (epoch ms, 1970 to 9999), so window arithmetic cannot overflow.
        guard storedTimes.contains(start), storedTimes.contains(last), end >= 0, (0...maxStoredCount).contains(events) else { return nil }
        let decoded = states.compactMap(AggregateState.init(json:))
        guard decoded.count == states.count else { return nil }
        var entries: [(time: Int64, values: [JSONValue?])] = []
        for item in buffer {
            guard case .array(let pair) = item, pair.count == 2, case .int(let time) = pair[0], storedTimes.contains(time),
                case .array(let values) = pair[1]
            else {
                return nil
            }
            // count(*) inputs are stored as "*": there is no value, only the row.
            entries.append((time, values.map { $0 == "*" ? nil : $0 }))
        }
        self.init(start: start, end: end, keys: keys, states: decoded, buffer: entries, events: Int(events), lastEvent: last)
    }
}

extension WindowOperator {
    /// The key a group is saved under: unique per window instance, so a closed window's saved state
    /// can be deleted after its row is delivered without touching the next window of its group.
    public func storeKey(_ operatorKey: String) -> String? {
        guard let group = groups[operatorKey] else { return nil }
        return storeKey(of: group, operatorKey: operatorKey)
    }

    func storeKey(of group: Group, operatorKey: String) -> String {
        switch spec {
        case .tumbling, .hopping: return operatorKey  // already "<start>|<keys>"
        case .session, .count(_, nil): return "\(group.start)|\(operatorKey)"
        case .sliding, .count: return "*|\(operatorKey)"  // one long-lived group: overwritten in place
        }
    }

    /// Restores a group saved under `storeKey`.
    public mutating func restore(storeKey: String, json: JSONValue) -> Bool {
        guard let group = Group(json: json), let bar = storeKey.firstIndex(of: "|"), group.states.count == query.aggregates.count else {
            return false
        }
        let operatorKey: String
        switch spec {
        case .tumbling, .hopping: operatorKey = storeKey
        default: operatorKey = String(storeKey[storeKey.index(after: bar)...])
        }
        restore(operatorKey, group)
        return true
    }
}
