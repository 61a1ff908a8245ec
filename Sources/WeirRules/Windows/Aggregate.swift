import WeirCore

/// The aggregate functions of grouped rules.
public enum AggregateKind: String, Sendable, CaseIterable {
    case count, sum, avg, min, max, first, last, stddev
    case stddevSamp = "stddev_samp"
    case variance = "var"
    case percentile
    case countDistinct = "count_distinct"
    case collect

    static func named(_ name: String) -> AggregateKind? {
        switch name.lowercased() {
        case "variance", "var_pop": return .variance
        case "stddev_pop": return .stddev
        default: return AggregateKind(rawValue: name.lowercased())
        }
    }
}

/// One aggregate of a grouped rule: its function, its compiled argument (nil for `count(*)`) and,
/// for `percentile` and `collect`, its constant parameter.
struct AggregateSpec: Sendable {
    var kind: AggregateKind
    var argument: SQLNode?
    var parameter: Double
    var offset: Int
}

/// The running state of one aggregate for one group in one window. Bounded whatever the input:
/// `percentile` keeps at most `reservoirSize` samples, `count_distinct` at most `sketchSize`
/// hashes, `collect` at most its cap.
enum AggregateState: Sendable, Equatable {
    case count(Int64)
    case sum(int: Int64, double: Double, isDouble: Bool, seen: Bool)
    /// Welford's running mean and sum of squared deviations (avg, stddev, var).
    case moments(count: Int64, mean: Double, m2: Double)
    case extreme(JSONValue)
    case edge(JSONValue)
    case reservoir(seen: Int64, values: [Double])
    /// The smallest distinct 64-bit hashes seen (a KMV sketch), sorted.
    case sketch([UInt64])
    case items([JSONValue], dropped: Int64)

    static let reservoirSize = 1024
    static let sketchSize = 1024

    static func initial(_ kind: AggregateKind) -> AggregateState {
        switch kind {
        case .count: return .count(0)
        case .sum: return .sum(int: 0, double: 0, isDouble: false, seen: false)
        case .avg, .stddev, .stddevSamp, .variance: return .moments(count: 0, mean: 0, m2: 0)
        case .min, .max: return .extreme(.null)
        case .first, .last: return .edge(.null)
        case .percentile: return .reservoir(seen: 0, values: [])
        case .countDistinct: return .sketch([])
        case .collect: return .items([], dropped: 0)
        }
    }

    /// Adds one input. `value` is nil for `count(*)`; SQL nulls are skipped by every aggregate.
    mutating func add(_ value: JSONValue?, spec: AggregateSpec) throws(EvaluationError) {
        guard let value else {
            if case .count(let n) = self { self = .count(n + 1) }
            return
        }
        if value.isNull { return }
        switch (self, spec.kind) {
        case (.count(let n), _):
            self = .count(n + 1)
        case (.sum(let i, let d, let isDouble, _), _):
            switch value {
            case .int(let v):
                let (total, overflow) = i.addingReportingOverflow(v)
                self =
                    overflow || isDouble
                    ? .sum(int: i, double: d + Double(v), isDouble: true, seen: true)
                    : .sum(int: total, double: d + Double(v), isDouble: false, seen: true)
            case .double(let v):
                self = .sum(int: i, double: d + v, isDouble: true, seen: true)
            default: throw EvaluationError("sum needs numbers, got \(value.typeName)")
            }
        case (.moments(let n, let mean, let m2), _):
            let x = try Self.number(value, spec.kind)
            let count = n + 1
            let delta = x - mean
            let newMean = mean + delta / Double(count)
            self = .moments(count: count, mean: newMean, m2: m2 + delta * (x - newMean))
        case (.extreme(let current), let kind):
            if current.isNull {
                self = .extreme(value)
            } else {
                let order = try Evaluator.compare(value, current) ?? 0
                if (kind == .min && order < 0) || (kind == .max && order > 0) { self = .extreme(value) }
            }
        case (.edge(let current), .first):
            if current.isNull { self = .edge(value) }
        case (.edge, _):
            self = .edge(value)
        case (.reservoir(let seen, var values), _):
            let x = try Self.number(value, spec.kind)
            if values.count < Self.reservoirSize {
                values.append(x)
            } else {
                // Algorithm R: every value seen so far is kept with equal probability.
                let slot = Int64.random(in: 0...seen)
                if slot < Int64(Self.reservoirSize) { values[Int(slot)] = x }
            }
            self = .reservoir(seen: seen + 1, values: values)
        case (.sketch(var hashes), _):
            let hash = Self.hash(value)
            if let index = Self.insertionIndex(hashes, hash), hashes.count < Self.sketchSize || index < hashes.count {
                hashes.insert(hash, at: index)
                if hashes.count > Self.sketchSize { hashes.removeLast() }
            }
            self = .sketch(hashes)
        case (.items(var items, let dropped), _):
            if items.count < Int(spec.parameter) {
                items.append(value)
                self = .items(items, dropped: dropped)
            } else {
                self = .items(items, dropped: dropped + 1)
            }
        default:
            throw EvaluationError("aggregate state does not fit \(spec.kind.rawValue)")
        }
    }

    /// The aggregate's value for the output row.
    func result(_ spec: AggregateSpec) -> JSONValue {
        switch self {
        case .count(let n): return .int(n)
        case .sum(let i, let d, let isDouble, let seen): return !seen ? .null : isDouble ? .double(d) : .int(i)
        case .moments(let n, let mean, let m2):
            switch spec.kind {
            case .avg: return n == 0 ? .null : .double(mean)
            case .stddev: return n == 0 ? .null : .double((m2 / Double(n)).squareRoot())
            case .stddevSamp: return n < 2 ? .null : .double((m2 / Double(n - 1)).squareRoot())
            default: return n == 0 ? .null : .double(m2 / Double(n))
            }
        case .extreme(let value), .edge(let value): return value
        case .reservoir(_, let values):
            guard !values.isEmpty else { return .null }
            let sorted = values.sorted()
            // Nearest rank: the smallest value with at least p % of the values at or below it.
            let rank = Int((spec.parameter / 100 * Double(sorted.count)).rounded(.up))
            return .double(sorted[min(sorted.count - 1, Swift.max(0, rank - 1))])
        case .sketch(let hashes):
            guard hashes.count >= Self.sketchSize, let largest = hashes.last else { return .int(Int64(hashes.count)) }
            // KMV estimate: (k - 1) / (k-th smallest hash as a fraction of the hash space).
            return .int(Int64((Double(Self.sketchSize - 1) / (Double(largest) / Double(UInt64.max))).rounded()))
        case .items(let items, _): return .array(items)
        }
    }

    private static func number(_ value: JSONValue, _ kind: AggregateKind) throws(EvaluationError) -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: throw EvaluationError("\(kind.rawValue) needs numbers, got \(value.typeName)")
        }
    }

    /// FNV-1a over the value's JSON text, then a 64-bit finalizer so the hashes spread evenly.
    static func hash(_ value: JSONValue) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in JSONWriter.bytes(value) {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// Where `hash` goes in the sorted `hashes`, or nil when it is already there.
    private static func insertionIndex(_ hashes: [UInt64], _ hash: UInt64) -> Int? {
        var low = 0
        var high = hashes.count
        while low < high {
            let mid = (low + high) / 2
            if hashes[mid] < hash { low = mid + 1 } else { high = mid }
        }
        return low < hashes.count && hashes[low] == hash ? nil : low
    }
}
