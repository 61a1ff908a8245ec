import Glibc
import Synchronization
import WeirCore

/// One IANA time zone, read from the system's TZif files (tzdata, /usr/share/zoneinfo).
///
/// Hand-written because the binary links FoundationEssentials only (docs/architecture.md): it has
/// no `TimeZone` database, and full Foundation's brings ICU. The TZif format (RFC 8536) is a
/// table of transitions plus a POSIX TZ string for times after the last one.
struct TimeZoneRules: Sendable {
    struct LocalType: Sendable, Equatable {
        /// Seconds east of UTC.
        var offset: Int64
        var isDST: Bool
        var abbreviation: String
    }

    let name: String
    /// Transition times (UTC seconds), ascending, and the local type from each on.
    let transitions: [Int64]
    let transitionTypes: [Int]
    let types: [LocalType]
    /// The rule after the last transition (the TZif footer), when the file has one.
    let footer: PosixTimeZone?

    static let utc = TimeZoneRules(
        name: "UTC", transitions: [], transitionTypes: [], types: [LocalType(offset: 0, isDST: false, abbreviation: "UTC")], footer: nil)

    /// The local type in force at `seconds` since the epoch (UTC).
    func localType(at seconds: Int64) -> LocalType {
        if let last = transitions.last, seconds >= last, let footer { return footer.localType(at: seconds) }
        if transitions.isEmpty { return footer?.localType(at: seconds) ?? types[0] }
        guard seconds >= transitions[0] else { return types[0] }
        var low = 0
        var high = transitions.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if transitions[mid] <= seconds { low = mid } else { high = mid - 1 }
        }
        return types[transitionTypes[low]]
    }

    /// UTC seconds of a wall-clock time in this zone. In a gap (clocks forward) the time is read
    /// with the offset before the gap; in an overlap (clocks back) the earlier instant wins.
    func utcSeconds(local: Int64) -> Int64 {
        let guess = local - localType(at: local).offset
        let first = local - localType(at: guess).offset
        let second = local - localType(at: first).offset
        return min(first, second)
    }
}

/// Loaded zones by name: a rule reading `'Europe/Berlin'` per event reads the file once.
enum TimeZoneCache {
    /// Zones read so far, and names that were not zones when last tried (with when): a zone named
    /// by a payload is read from disk once, and a missing one at most every `retryMissing`, not per
    /// event; tzdata installed later is found then. Bounded: emptied when full.
    private static let zones = Mutex<[String: (result: Result<TimeZoneRules, EvaluationError>, at: UInt64)]>([:])
    static let maxCached = 512
    static let retryMissing: UInt64 = 10_000_000_000
    /// Where tzdata is installed; `TZDIR` overrides it as for the C library.
    static var directory: String {
        if let value = getenv("TZDIR") { return String(cString: value) }
        return "/usr/share/zoneinfo"
    }

    /// The zone named `name` ('UTC', 'Europe/Berlin', 'America/New_York'), or why not.
    static func zone(_ name: String) -> Result<TimeZoneRules, EvaluationError> {
        if name == "UTC" || name == "Z" || name == "Etc/UTC" { return .success(.utc) }
        let now = monotonicNanos()
        if let cached = zones.withLock({ $0[name] }) {
            if case .success = cached.result { return cached.result }
            if now - cached.at < retryMissing { return cached.result }
        }
        let found = load(name)
        zones.withLock { cache in
            if cache.count >= maxCached { cache.removeAll(keepingCapacity: true) }
            cache[name] = (found, now)
        }
        return found
    }

    private static func load(_ name: String) -> Result<TimeZoneRules, EvaluationError> {
        // An IANA name is letters, digits and '/_+-' in parts: nothing that walks out of the directory.
        let allowed = name.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || "/_+-".utf8.contains($0)
        }
        guard !name.isEmpty, allowed, !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            return .failure(EvaluationError("unknown time zone '\(name)' (expected an IANA name such as 'Europe/Berlin')"))
        }
        guard let bytes = readFile(directory + "/" + name) else {
            return .failure(EvaluationError("unknown time zone '\(name)' (no such file in \(directory); is tzdata installed?)"))
        }
        guard let rules = TZifReader.parse(bytes, name: name) else {
            return .failure(EvaluationError("time zone file for '\(name)' is not TZif"))
        }
        return .success(rules)
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while out.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            out.append(contentsOf: chunk[0..<count])
        }
        return out
    }
}

/// Parses TZif version 1 to 4 (RFC 8536): the 64-bit block when present, and the footer.
enum TZifReader {
    static func parse(_ b: [UInt8], name: String) -> TimeZoneRules? {
        guard b.count >= 44, b[0] == 0x54, b[1] == 0x5A, b[2] == 0x69, b[3] == 0x66 else { return nil }
        let version = b[4]
        guard var block = header(b, at: 0) else { return nil }
        var width = 4
        var start = 44
        if version >= 0x32 {
            // Skip the 32-bit block to the second header, whose data has 64-bit times.
            let second = 44 + block.size(width: 4)
            guard let next = header(b, at: second) else { return nil }
            block = next
            width = 8
            start = second + 44
        }
        guard block.typeCount > 0, start + block.size(width: width) <= b.count else { return nil }
        var index = start
        var transitions: [Int64] = []
        for _ in 0..<block.timeCount {
            transitions.append(width == 8 ? int64(b, index) : Int64(int32(b, index)))
            index += width
        }
        var transitionTypes: [Int] = []
        for _ in 0..<block.timeCount {
            guard Int(b[index]) < block.typeCount else { return nil }
            transitionTypes.append(Int(b[index]))
            index += 1
        }
        var raw: [(Int64, Bool, Int)] = []
        for _ in 0..<block.typeCount {
            raw.append((Int64(int32(b, index)), b[index + 4] != 0, Int(b[index + 5])))
            index += 6
        }
        let chars = Array(b[index..<index + block.charCount])
        let types = raw.map { entry in
            let (offset, dst, at) = entry
            let end = chars[min(at, chars.count)...].firstIndex(of: 0) ?? chars.count
            return TimeZoneRules.LocalType(
                offset: offset, isDST: dst, abbreviation: String(decoding: chars[min(at, chars.count)..<end], as: UTF8.self))
        }
        var footer: PosixTimeZone?
        if version >= 0x32 {
            let after = start + block.size(width: 8)
            if after < b.count, b[after] == 0x0A, let end = b[(after + 1)...].firstIndex(of: 0x0A), end > after + 1 {
                footer = PosixTimeZone(String(decoding: b[(after + 1)..<end], as: UTF8.self))
            }
        }
        return TimeZoneRules(name: name, transitions: transitions, transitionTypes: transitionTypes, types: types, footer: footer)
    }

    struct Counts {
        var utCount, stdCount, leapCount, timeCount, typeCount, charCount: Int

        func size(width: Int) -> Int {
            timeCount * width + timeCount + typeCount * 6 + charCount + leapCount * (width + 4) + stdCount + utCount
        }
    }

    static func header(_ b: [UInt8], at offset: Int) -> Counts? {
        guard offset + 44 <= b.count, b[offset] == 0x54, b[offset + 1] == 0x5A else { return nil }
        let c = (0..<6).map { Int(UInt32(bitPattern: int32(b, offset + 20 + 4 * $0))) }
        guard c.allSatisfy({ $0 < 1 << 20 }) else { return nil }
        return Counts(utCount: c[0], stdCount: c[1], leapCount: c[2], timeCount: c[3], typeCount: c[4], charCount: c[5])
    }

    static func int32(_ b: [UInt8], _ i: Int) -> Int32 {
        Int32(bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
    }

    static func int64(_ b: [UInt8], _ i: Int) -> Int64 {
        Int64(int32(b, i)) << 32 | Int64(UInt32(bitPattern: int32(b, i + 4)))
    }
}
