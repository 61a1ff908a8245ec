import WeirCore

/// How a windowed rule tells time.
public enum TimeMode: Sendable, Equatable {
    /// The receive time of each event; windows close on the clock.
    case processing
    /// A time field of the payload (epoch ms or RFC 3339). Watermark = max event time - lateness;
    /// after `idleTimeout` without events it advances with the clock.
    case event(field: String, lateness: Int64, idleTimeout: Int64)
}

/// One row a window produced, for the rule's actions.
public struct WindowOutput: Sendable, Equatable {
    public var row: JSONObject
    public var windowStart: Int64
    public var windowEnd: Int64
    /// For a window that closed: where its state was saved, and that state, so the saved copy is
    /// kept until the row has been handed on. Nil for rows of windows that stay open (sliding, COUNT with a hop).
    public var storeKey: String?
    public var state: JSONValue?
    /// A late event's own row, for the rule's `late` actions (not a window's row).
    public var late = false

    public init(row: JSONObject, windowStart: Int64, windowEnd: Int64, storeKey: String? = nil, state: JSONValue? = nil, late: Bool = false)
    {
        self.row = row
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.storeKey = storeKey
        self.state = state
        self.late = late
    }
}

/// What `add` did with an event.
public enum WindowAdmission: Sendable, Equatable {
    case accepted
    /// Event time behind the watermark: its window already closed.
    case late
    /// A new group beyond `maxGroups`: dropped, never silently.
    case overGroupLimit
}

/// The open windows of one grouped rule and the rules for closing them. A plain value driven by
/// one owner: `add` per event, `advance` on every clock tick. Time comes in as arguments, so tests
/// (and replays) need no real clock.
public struct WindowOperator: Sendable {
    /// One group in one window.
    public struct Group: Sendable, Equatable {
        public var start: Int64
        public var end: Int64
        public var keys: [JSONValue]
        var states: [AggregateState]
        /// Count windows with a hop and sliding windows keep their inputs to recompute from.
        var buffer: [(time: Int64, values: [JSONValue?])]
        public internal(set) var events: Int
        public internal(set) var lastEvent: Int64

        public static func == (a: Group, b: Group) -> Bool {
            a.start == b.start && a.end == b.end && a.keys == b.keys && a.states == b.states && a.events == b.events
        }
    }

    public let query: GroupedQuery
    public let spec: WindowSpec
    public let timeMode: TimeMode
    public let maxGroups: Int
    /// Open groups by `"<start>|<keys as JSON>"` (sessions and count windows: keys only).
    public private(set) var groups: [String: Group] = [:]
    public private(set) var maxEventTime: Int64 = .min
    /// Groups moved out of memory (their state is saved; see `evict`): operator key → where it is
    /// saved and when it closes. About 100 bytes each instead of the whole group.
    public private(set) var spilled: [String: Spilled] = [:]
    /// Reads a saved group back (set by the owner when state is saved anywhere).
    public var loader: (@Sendable (String) -> JSONValue?)?
    /// Spilled groups that could not be read back (counted by the owner).
    public private(set) var lostOnLoad = 0

    public struct Spilled: Sendable, Equatable {
        public var storeKey: String
        public var end: Int64
        public var lastEvent: Int64
    }

    /// Operator keys of groups changed since `takeTouched()`.
    public private(set) var touched: Set<String> = []
    /// Closed groups whose row failed to evaluate, and the latest such error (for the log).
    public private(set) var rowErrors = 0
    public var lastRowError: EvaluationError?
    /// Store keys of closed groups that HAVING rejected: nothing to deliver, their state can go.
    public private(set) var discarded: [String] = []
    private var lastArrival: Int64 = .min
    /// At most the earliest end of any open group, in memory or spilled (exact after each scan):
    /// `advance` looks at the groups only once the watermark reaches it, so a tick costs nothing
    /// per open group while no window is due. Ends only grow once set (see `noteEnd`).
    private var nextEnd: Int64 = .max
    /// At most the earliest `lastEvent` of any group (sliding windows: when one may empty).
    private var nextIdle: Int64 = .max

    public init(query: GroupedQuery, timeMode: TimeMode = .processing, maxGroups: Int = 100_000) {
        self.query = query
        self.spec = query.window ?? .tumbling(size: 60_000)
        self.timeMode = timeMode
        self.maxGroups = maxGroups
    }

    /// Windows whose end is at or before this have closed.
    public func watermark(now: Int64) -> Int64 {
        switch timeMode {
        case .processing:
            return now
        case .event(_, let lateness, let idleTimeout):
            guard maxEventTime != .min else { return .min }
            // Restored state has no arrival yet: no idle drift until an event comes or time passes.
            let idle = lastArrival == .min ? 0 : now - lastArrival
            // Quiet input: let event time run on with the clock so quiet devices' windows close.
            let drift = idle >= idleTimeout ? idle : 0
            return maxEventTime - lateness + drift
        }
    }

    /// Adds one event's group keys and aggregate inputs at event time `time` (the receive time in
    /// processing mode), received at `now`. Returns rows that close because of it (count and
    /// sliding windows) and what happened to the event.
    public mutating func add(keys: [JSONValue], values: [JSONValue?], time: Int64, now: Int64) throws(EvaluationError) -> (
        WindowAdmission, [WindowOutput]
    ) {
        var mark = Int64.min
        if case .event = timeMode {
            mark = watermark(now: now)
            if mark != .min && isLate(time, watermark: mark) { return (.late, []) }
        }
        lastArrival = max(lastArrival, now)
        maxEventTime = max(maxEventTime, time)
        let keyText = JSONWriter.string(.array(keys))
        faultIn(keyText)
        var outputs: [WindowOutput] = []
        switch spec {
        case .tumbling(let size):
            let start = floorDiv(time, size) * size
            guard try update("\(start)|\(keyText)", start, start + size, keys, values, time) else { return (.overGroupLimit, []) }
        case .hopping(let size, let hop):
            var start = floorDiv(time, hop) * hop
            while start > time - size {
                // Earlier windows of this event may have closed already (event time): skip those.
                if start + size > mark, !(try update("\(start)|\(keyText)", start, start + size, keys, values, time)) {
                    return (.overGroupLimit, [])
                }
                start -= hop
            }
        case .session(let gap, let maxDuration):
            if var group = groups[keyText], time - group.lastEvent >= gap || maxDuration.map({ time - group.start >= $0 }) == true {
                // The previous session of this group ended before this event: close it first.
                group.end = min(group.lastEvent + gap, maxDuration.map { group.start + $0 } ?? .max)
                groups[keyText] = nil
                if let output = try emit(group, closing: keyText) { outputs.append(output) }
            }
            guard try update(keyText, time, time + gap, keys, values, time) else { return (.overGroupLimit, outputs) }
            if var group = groups[keyText] {
                // The session closes after `gap` of silence, or at start + max, whichever is first:
                // both on the clock, not only when the next event arrives.
                group.end = min(max(group.end, time + gap), maxDuration.map { group.start + $0 } ?? .max)
                noteEnd(group.end)
                groups[keyText] = group
            }
        case .count(let size, let hop):
            guard try update(keyText, time, time, keys, values, time, buffered: hop != nil) else { return (.overGroupLimit, []) }
            guard var group = groups[keyText] else { break }
            if let hop {
                if group.buffer.count > size { group.buffer.removeFirst(group.buffer.count - size) }
                groups[keyText] = group
                if group.buffer.count >= size, (group.events - size) % hop == 0 {
                    var window = try recomputed(group)
                    window.start = group.buffer.first?.time ?? time
                    window.end = time
                    if let output = try emit(window) { outputs.append(output) }
                }
            } else if group.events >= size {
                groups[keyText] = nil
                group.end = time
                if let output = try emit(group, closing: keyText) { outputs.append(output) }
            }
        case .sliding(let size):
            guard try update(keyText, time - size, time, keys, values, time, buffered: true) else { return (.overGroupLimit, []) }
            guard var group = groups[keyText] else { break }
            group.buffer.removeAll { $0.time <= time - size }
            group.start = time - size
            group.end = time
            groups[keyText] = group
            if let output = try emit(recomputed(group)) { outputs.append(output) }
        }
        return (.accepted, outputs)
    }

    /// Closes every time window the watermark has passed and returns their rows, oldest first.
    public mutating func advance(now: Int64) throws(EvaluationError) -> [WindowOutput] {
        let mark = watermark(now: now)
        var closed: [(key: String, group: Group)] = []
        if closes(end: nextEnd, watermark: mark) {
            // Spilled windows that are due come back to be closed with the others.
            for key in spilled.filter({ closes(end: $0.value.end, watermark: mark) }).keys { faultIn(key) }
            for (key, group) in groups where closes(group, watermark: mark) {
                closed.append((key, group))
                groups[key] = nil
            }
            nextEnd = min(groups.values.lazy.map(\.end).min() ?? .max, spilled.values.lazy.map(\.end).min() ?? .max)
        }
        closed.sort { ($0.group.end, $0.group.start, $0.key) < ($1.group.end, $1.group.start, $1.key) }
        var outputs: [WindowOutput] = []
        var firstError: EvaluationError?
        for (key, group) in closed {
            do {
                if let output = try emit(group, closing: key) { outputs.append(output) }
            } catch {
                // One group's bad row (a division by zero in HAVING) costs that row only.
                rowErrors += 1
                firstError = firstError ?? error
                discarded.append(storeKey(of: group, operatorKey: key))
            }
        }
        lastRowError = firstError
        if case .sliding(let size) = spec, nextIdle != .max, nextIdle <= mark - size {  // no groups: no watermark arithmetic
            // Sliding groups emit per event; forget the ones with nothing left in range.
            for (key, group) in groups where group.lastEvent <= mark - size {
                groups[key] = nil
                touched.insert(key)
            }
            for (key, entry) in spilled where entry.lastEvent <= mark - size {
                spilled[key] = nil
                touched.insert(key)
            }
            nextIdle = min(
                groups.values.lazy.map(\.lastEvent).min() ?? .max, spilled.values.lazy.map(\.lastEvent).min() ?? .max)
        }
        return outputs
    }

    /// Restores a group saved by a checkpoint (after a restart).
    public mutating func restore(_ key: String, _ group: Group) {
        groups[key] = group
        maxEventTime = max(maxEventTime, group.lastEvent)
        noteEnd(group.end)
        nextIdle = min(nextIdle, group.lastEvent)
    }

    /// Keeps `nextEnd` a lower bound: called wherever a group gets an end that may be earlier
    /// than every other (a new group; a session capped by its maximum). Count windows never close
    /// on time, whatever their end.
    private mutating func noteEnd(_ end: Int64) {
        nextEnd = min(nextEnd, end)
    }

    /// Resumes the idle clock after a restart, so quiet windows still close by `idle_timeout`.
    public mutating func resumeClock(at now: Int64) {
        if lastArrival == .min && !groups.isEmpty { lastArrival = now }
    }

    private func closes(_ group: Group, watermark: Int64) -> Bool {
        closes(end: group.end, watermark: watermark)
    }

    private func closes(end: Int64, watermark: Int64) -> Bool {
        guard end != .max else { return false }  // nothing open
        switch spec {
        case .tumbling, .hopping, .session: return end <= watermark
        case .count, .sliding: return false
        }
    }

    /// Moves these groups out of memory. Only for groups whose current state is saved (the owner
    /// evicts right after a checkpoint, groups untouched since); they come back on their next
    /// event or when their window closes.
    public mutating func evict(_ keys: [String]) {
        for key in keys {
            guard let group = groups.removeValue(forKey: key) else { continue }
            spilled[key] = Spilled(storeKey: storeKey(of: group, operatorKey: key), end: group.end, lastEvent: group.lastEvent)
            touched.remove(key)
        }
    }

    /// Brings a spilled group back into memory.
    private mutating func faultIn(_ key: String) {
        guard let entry = spilled.removeValue(forKey: key) else { return }
        if let json = loader?(entry.storeKey), let group = Group(json: json) {
            groups[key] = group
        } else {
            lostOnLoad += 1
        }
    }

    /// Whether an event at `time` only belongs to windows that have closed.
    private func isLate(_ time: Int64, watermark: Int64) -> Bool {
        switch spec {
        case .tumbling(let size): return floorDiv(time, size) * size + size <= watermark
        case .hopping(let size, let hop): return floorDiv(time, hop) * hop + size <= watermark
        case .session, .sliding: return time <= watermark
        case .count: return false
        }
    }

    private mutating func update(
        _ key: String, _ start: Int64, _ end: Int64, _ keys: [JSONValue], _ values: [JSONValue?], _ time: Int64, buffered: Bool = false
    ) throws(EvaluationError) -> Bool {
        var group: Group
        faultIn(key)
        if let existing = groups[key] {
            group = existing
        } else {
            guard groups.count + spilled.count < maxGroups else { return false }
            group = Group(start: start, end: end, keys: keys, states: query.initialStates(), buffer: [], events: 0, lastEvent: time)
            noteEnd(end)
            nextIdle = min(nextIdle, time)
        }
        if buffered {
            group.buffer.append((time, values))
        } else {
            try query.add(values, to: &group.states)
        }
        group.events += 1
        group.lastEvent = max(group.lastEvent, time)
        groups[key] = group
        touched.insert(key)
        return true
    }

    func recomputed(_ group: Group) throws(EvaluationError) -> Group {
        var copy = group
        copy.states = query.initialStates()
        for entry in group.buffer { try query.add(entry.values, to: &copy.states) }
        return copy
    }

    /// The group's row (nil when HAVING rejects it); `closing` names a group that just closed.
    private mutating func emit(_ group: Group, closing key: String? = nil) throws(EvaluationError) -> WindowOutput? {
        guard let row = try query.row(keys: group.keys, states: group.states, windowStart: group.start, windowEnd: group.end) else {
            if let key { discarded.append(storeKey(of: group, operatorKey: key)) }
            return nil
        }
        return WindowOutput(
            row: row, windowStart: group.start, windowEnd: group.end, storeKey: key.map { storeKey(of: group, operatorKey: $0) },
            state: key == nil ? nil : group.json)
    }

    /// The saved form of every group changed since the last call: `(storeKey, state)`, with a nil
    /// state for a group that is gone without a row to deliver (a sliding group that emptied).
    public mutating func takeDiscarded() -> [String] {
        defer { discarded.removeAll() }
        return discarded
    }

    public mutating func takeTouched() -> [(storeKey: String, state: JSONValue?)] {
        takeTouchedGroups().map { ($0.storeKey, $0.group?.json) }
    }

    /// As `takeTouched`, with the groups themselves (nil: gone), so that their encoding can happen
    /// later, outside the owner's lock: a group is a value, the copy does not change.
    public mutating func takeTouchedGroups() -> [(storeKey: String, group: Group?)] {
        defer { touched.removeAll(keepingCapacity: true) }
        return touched.compactMap { key in
            if let group = groups[key] { return (storeKey(of: group, operatorKey: key), group) }
            if case .sliding = spec { return ("*|\(key)", nil) }
            return nil  // closed: the engine keeps its final state until the row is delivered
        }
    }
}

/// Floor division (windows before 1970 stay aligned).
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
