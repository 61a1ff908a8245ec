import WeirCore

/// Something that happened during a case, as an expectation sees it.
public struct Happening: Sendable {
    public var kind: HappeningKind
    /// When, in ms after the case's start.
    public var at: Int64
    public var fields: JSONObject

    /// `publish at 0s {"topic":…}`, for messages.
    public var description: String { "\(kind.rawValue) at \(formatOffset(at)) \(JSONValue.object(fields))" }
}

/// One difference between an expected item and a happening: a field path and both values (nil
/// when absent).
public struct Mismatch: Sendable, Equatable {
    public var path: String
    public var expected: JSONValue?
    public var actual: JSONValue?

    public init(path: String, expected: JSONValue?, actual: JSONValue?) {
        self.path = path
        self.expected = expected
        self.actual = actual
    }
}

/// Compares expected items with happenings. Objects match as subsets (every expected key, with a
/// matching value; more keys are fine), lists element by element with the same length, numbers by
/// value (`25` matches `25.0`, within a relative 1e-9 for averages), and the text of an error
/// (`error`, `message`) by containment.
public enum Matcher {
    /// The differences between `expectation` and `happening` (empty: it matches).
    public static func mismatches(_ expectation: Expectation, _ happening: Happening) -> [Mismatch] {
        guard expectation.kind == happening.kind else { return [Mismatch(path: "kind", expected: nil, actual: nil)] }
        var found: [Mismatch] = []
        if let at = expectation.at, at != happening.at {
            found.append(Mismatch(path: "at", expected: .string(formatOffset(at)), actual: .string(formatOffset(happening.at))))
        }
        for (key, expected) in zip(expectation.fields.keys, expectation.fields.values) {
            guard let actual = happening.fields[key] else {
                found.append(Mismatch(path: key, expected: expected, actual: nil))
                continue
            }
            if key == "error" || key == "message", case .string(let part) = expected, case .string(let text) = actual {
                if !text.contains(part) { found.append(Mismatch(path: key, expected: expected, actual: actual)) }
                continue
            }
            compare(expected, actual, path: key, into: &found)
        }
        return found
    }

    static func compare(_ expected: JSONValue, _ actual: JSONValue, path: String, into found: inout [Mismatch]) {
        switch (expected, actual) {
        case (.object(let want), .object(let have)):
            for (key, value) in zip(want.keys, want.values) {
                if let other = have[key] {
                    compare(value, other, path: path + "." + key, into: &found)
                } else {
                    found.append(Mismatch(path: path + "." + key, expected: value, actual: nil))
                }
            }
        case (.array(let want), .array(let have)) where want.count == have.count:
            for (index, (value, other)) in zip(want, have).enumerated() {
                compare(value, other, path: "\(path)[\(index)]", into: &found)
            }
        default:
            if !sameScalar(expected, actual) { found.append(Mismatch(path: path, expected: expected, actual: actual)) }
        }
    }

    static func sameScalar(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (number(a), number(b)) {
        case (let x?, let y?):
            if case .int(let i) = a, case .int(let j) = b { return i == j }
            return x == y || abs(x - y) <= 1e-9 * max(abs(x), abs(y))
        default:
            // Bytes leave the daemon as base64 text (JSONWriter), so a test writes them that way.
            if case .bytes(let bytes) = b, case .string(let text) = a { return Base64.encode(bytes) == text }
            return a == b
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The happening most like `expectation` among those of its kind: fewest differences, then
    /// the earliest. Nil when none of that kind happened.
    public static func closest(to expectation: Expectation, in happenings: [Happening]) -> (Happening, [Mismatch])? {
        var best: (Happening, [Mismatch])?
        for happening in happenings where happening.kind == expectation.kind {
            let differences = mismatches(expectation, happening)
            if best == nil || differences.count < best!.1.count { best = (happening, differences) }
        }
        return best
    }
}
