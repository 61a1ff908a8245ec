import WeirCore

/// What one stateful call remembers for one partition. Saved as JSON (`json`, `init(json:)`).
public struct StatefulSlot: Sendable, Equatable {
    /// `changed`: the value when it was last true; `latest`: the last non-null value; `delta` and
    /// `rate`: the previous numeric value.
    var value: JSONValue?
    /// `changed`: when it was last true; `delta`/`rate`: the previous value's time (ms).
    var time: Int64 = 0
    /// `lag`: the last n values, oldest first, nulls included.
    var history: [JSONValue] = []

    public init() {}

    var json: JSONValue {
        var object = JSONObject()
        if let value { object["v"] = value }
        if time != 0 { object["t"] = .int(time) }
        if !history.isEmpty { object["h"] = .array(history) }
        return .object(object)
    }

    init?(json: JSONValue) {
        guard case .object(let object) = json else { return nil }
        value = object["v"]
        if let time = object["t"] {
            guard case .int(let millis) = time else { return nil }
            self.time = millis
        }
        if let history = object["h"] {
            guard case .array(let values) = history, values.count <= 1000 else { return nil }
            self.history = values
        }
    }
}

extension StatefulSpec {
    /// The call's value for this event, given the evaluated arguments, and the slot updated.
    /// `now` is the event's time in its rule (receive time, or `event_time`), in ms.
    func step(_ arguments: [JSONValue], _ slot: inout StatefulSlot, now: Int64) throws(EvaluationError) -> JSONValue {
        let current = arguments[0]
        switch kind {
        case .changed:
            // A null is not a change, and leaves the state as it was.
            guard !current.isNull else { return .bool(false) }
            var isChange: Bool
            if let last = slot.value {
                if let a = current.doubleValue, let b = last.doubleValue, let deadband = arguments[1].doubleValue {
                    isChange = abs(a - b) >= deadband
                } else {
                    isChange = current != last
                }
            } else {
                isChange = true  // the partition's first value
            }
            if !isChange, let maxSilence, now - slot.time >= maxSilence { isChange = true }
            if isChange {
                slot.value = current
                slot.time = now
            }
            return .bool(isChange)
        case .lag:
            let n = arguments.count >= 2 ? Int(arguments[1].intValue ?? 1) : 1
            let fallback = arguments.count >= 3 ? arguments[2] : .null
            let result = slot.history.count >= n ? slot.history[slot.history.count - n] : fallback
            slot.history.append(current)
            if slot.history.count > n { slot.history.removeFirst(slot.history.count - n) }
            return result
        case .latest:
            if !current.isNull { slot.value = current }
            return slot.value ?? .null
        case .delta, .rate:
            if current.isNull { return .null }
            guard let number = current.doubleValue else {
                throw EvaluationError("\(kind.rawValue) needs a number, got \(current.typeName)")
            }
            defer {
                slot.value = current
                slot.time = now
            }
            guard let previous = slot.value?.doubleValue else { return .null }
            if kind == .delta {
                if case .int(let a) = current, case .int(let b) = slot.value {
                    let (difference, overflow) = a.subtractingReportingOverflow(b)
                    if !overflow { return .int(difference) }
                }
                return .double(number - previous)
            }
            let seconds = Double(now - slot.time) / 1000
            guard seconds > 0 else { return .null }
            return .double((number - previous) / seconds)
        }
    }
}
