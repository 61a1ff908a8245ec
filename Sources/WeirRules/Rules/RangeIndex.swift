import WeirCore

/// A numeric interval with inclusive or exclusive ends; nil ends are unbounded.
struct NumericInterval: Sendable, Equatable {
    var lower: Bound?
    var upper: Bound?

    struct Bound: Sendable, Equatable {
        var value: Double
        var inclusive: Bool
    }

    func intersected(_ other: NumericInterval) -> NumericInterval {
        func tighter(_ a: Bound?, _ b: Bound?, _ isLower: Bool) -> Bound? {
            guard let a else { return b }
            guard let b else { return a }
            if a.value == b.value { return Bound(value: a.value, inclusive: a.inclusive && b.inclusive) }
            return (a.value > b.value) == isLower ? a : b
        }
        return NumericInterval(lower: tighter(lower, other.lower, true), upper: tighter(upper, other.upper, false))
    }

    /// The interval a WHERE clause accepts when its path holds a number, if the clause is a
    /// conjunction of `<`, `<=`, `>`, `>=`, `=` and BETWEEN comparisons of one path with number
    /// literals. For such a clause a number never raises an error and a null never matches.
    static func of(_ predicate: Predicate) -> (slot: Int, interval: NumericInterval)? {
        switch predicate {
        case .and(let left, let right):
            guard let l = of(left), let r = of(right), l.slot == r.slot else { return nil }
            return (l.slot, l.interval.intersected(r.interval))
        case .compare(let slot, let op, let literal, let pathOnLeft):
            guard let c = exact(literal) else { return nil }
            switch (op, pathOnLeft) {
            case (.greater, true), (.less, false): return (slot, NumericInterval(lower: Bound(value: c, inclusive: false)))
            case (.greaterOrEqual, true), (.lessOrEqual, false): return (slot, NumericInterval(lower: Bound(value: c, inclusive: true)))
            case (.less, true), (.greater, false): return (slot, NumericInterval(upper: Bound(value: c, inclusive: false)))
            case (.lessOrEqual, true), (.greaterOrEqual, false): return (slot, NumericInterval(upper: Bound(value: c, inclusive: true)))
            case (.equal, _):
                let point = Bound(value: c, inclusive: true)
                return (slot, NumericInterval(lower: point, upper: point))
            default: return nil
            }
        case .between(let slot, let low, let high, negated: false):
            guard let l = exact(low), let h = exact(high) else { return nil }
            return (slot, NumericInterval(lower: Bound(value: l, inclusive: true), upper: Bound(value: h, inclusive: true)))
        default:
            return nil
        }
    }

    /// A number as a Double when that is exact, so that Double comparisons give the
    /// interpreter's results (it compares two ints as ints).
    static func exact(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i) where i.magnitude <= 1 << 53: return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}

/// Rules that share their FROM filters and whose WHERE is a numeric interval on one path
/// (`NumericInterval.of`): for a numeric value the matching rules are found by one binary search
/// over the sorted interval bounds instead of one evaluation per rule.
struct RangeGroup: Sendable {
    let slot: Int
    /// Sorted distinct bounds. Segment 2j+1 is the point `bounds[j]`; segment 2j is the open
    /// gap below it (segment 2k is above the last bound).
    let bounds: [Double]
    /// `members[offsets[s]..<offsets[s + 1]]`: positions of the rules segment s satisfies, ascending.
    let offsets: [Int]
    let members: [Int]

    /// nil when the lists would grow too large (many overlapping intervals): those rules are evaluated one by one.
    init?(slot: Int, rules: [(position: Int, interval: NumericInterval)]) {
        let bounds = Array(Set(rules.flatMap { [$0.interval.lower?.value, $0.interval.upper?.value].compactMap { $0 } })).sorted()
        let segments = 2 * bounds.count + 1
        var lists = Array(repeating: [Int](), count: segments)
        var total = 0
        for (position, interval) in rules {
            let first = interval.lower.map { bound in 2 * Self.index(bound.value, bounds) + (bound.inclusive ? 1 : 2) } ?? 0
            let last = interval.upper.map { bound in 2 * Self.index(bound.value, bounds) + (bound.inclusive ? 1 : 0) } ?? segments - 1
            guard first <= last else { continue }
            total += last - first + 1
            if total > 16 * rules.count + 1024 { return nil }
            for segment in first...last { lists[segment].append(position) }
        }
        self.slot = slot
        self.bounds = bounds
        offsets = lists.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        members = lists.flatMap { $0 }
    }

    /// The first index whose bound is not below `value`.
    private static func index(_ value: Double, _ bounds: [Double]) -> Int {
        var low = 0
        var high = bounds.count
        while low < high {
            let middle = (low + high) / 2
            if bounds[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Positions of the rules whose interval contains `value`, ascending.
    func matching(_ value: Double) -> ArraySlice<Int> {
        let j = Self.index(value, bounds)
        let segment = j < bounds.count && bounds[j] == value ? 2 * j + 1 : 2 * j
        return members[offsets[segment]..<offsets[segment + 1]]
    }
}

/// The range groups of a rule set, and each rule's group.
struct RangeIndex: Sendable {
    let groups: [RangeGroup]
    /// By rule position: its group, or -1.
    let groupOf: [Int]
    /// Fewer rules than this on one path and filter list are cheaper to evaluate one by one.
    static let minimumRules = 8

    init(rules: [Rule], predicates: [Predicate?]) {
        struct Key: Hashable {
            let filters: [String]
            let slot: Int
        }
        var candidates: [Key: [(position: Int, interval: NumericInterval)]] = [:]
        var order: [Key] = []
        for (position, rule) in rules.enumerated() where rule.enabled && rule.query.grouping == nil && rule.query.stateful.isEmpty {
            guard let predicate = predicates[position], let (slot, interval) = NumericInterval.of(predicate) else { continue }
            let key = Key(filters: rule.query.topicFilters, slot: slot)
            if candidates[key] == nil { order.append(key) }
            candidates[key, default: []].append((position, interval))
        }
        var groups: [RangeGroup] = []
        var groupOf = Array(repeating: -1, count: rules.count)
        for key in order {
            let members = candidates[key]!
            guard members.count >= Self.minimumRules, let group = RangeGroup(slot: key.slot, rules: members) else { continue }
            for member in members { groupOf[member.position] = groups.count }
            groups.append(group)
        }
        self.groups = groups
        self.groupOf = groupOf
    }
}

/// One event's answers from the range groups: each group is asked at most once, when its first
/// rule comes up, and its answer is then read in position order.
struct RangeLookups {
    /// A group not asked yet this event.
    private static let unasked = -2
    /// The path's value is not a number the index can place (a string, a large int): each rule
    /// of the group is evaluated by itself, which raises its errors as before.
    private static let evaluateEach = -1

    let index: RangeIndex
    /// Per group: `unasked`, `evaluateEach`, or where its matching positions start in `matched`
    /// (advanced as the positions go by). Plain integers, so that deciding a rule copies and
    /// retains nothing: it runs once per candidate rule per event.
    private var cursor: [Int]
    private var end: [Int]
    /// The matching positions of every group asked so far, one run per group, ascending.
    private var matched: [Int] = []

    init(_ index: RangeIndex) {
        self.index = index
        cursor = Array(repeating: Self.unasked, count: index.groups.count)
        end = Array(repeating: 0, count: index.groups.count)
    }

    /// Whether the rule at `position` matches, or nil when it is not indexed or must be evaluated by itself.
    mutating func decide(_ position: Int, _ fields: inout FieldValues) -> Bool? {
        let group = index.groupOf[position]
        guard group >= 0 else { return nil }
        if cursor[group] == Self.unasked {
            let value = fields.value(index.groups[group].slot)
            if case .null = value {
                // Every comparison is null, so no rule of the group matches, and none fails.
                cursor[group] = matched.count
                end[group] = matched.count
            } else if let number = NumericInterval.exact(value) {
                cursor[group] = matched.count
                matched.append(contentsOf: index.groups[group].matching(number))
                end[group] = matched.count
            } else {
                cursor[group] = Self.evaluateEach
            }
        }
        var next = cursor[group]
        guard next >= 0 else { return nil }
        let last = end[group]
        while next < last, matched[next] < position { next += 1 }
        cursor[group] = next
        return next < last && matched[next] == position
    }
}
