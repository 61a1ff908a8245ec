/// An MQTT topic filter parsed once into levels (MQTT 3.1.1 §4.7).
public struct TopicFilter: Sendable, Hashable, CustomStringConvertible {
    public enum Level: Sendable, Hashable {
        case literal(String)
        /// `+`: exactly one level, which may be empty.
        case singleWildcard
        /// `#`: this level and all below it, including none; only last.
        case multiWildcard
    }

    public let text: String
    public let levels: [Level]

    /// Why a filter is not valid, with the character offset of the offending level.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var offset: Int
        public var description: String { message }
    }

    public init(_ text: String) throws(Invalid) {
        guard !text.isEmpty else { throw Invalid(message: "topic filter is empty", offset: 0) }
        var levels: [Level] = []
        var offset = 0
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            switch part {
            case "+": levels.append(.singleWildcard)
            case "#":
                guard index == parts.count - 1 else {
                    throw Invalid(message: "'#' must be the last level of a topic filter", offset: offset)
                }
                levels.append(.multiWildcard)
            default:
                if part.contains("+") || part.contains("#") {
                    throw Invalid(message: "wildcards '+' and '#' must fill a whole level in '\(text)'", offset: offset)
                }
                levels.append(.literal(String(part)))
            }
            offset += part.count + 1
        }
        self.text = text
        self.levels = levels
    }

    public var description: String { text }

    /// Whether `topic` matches, including the rule that a wildcard in the first level does not
    /// match topics that start with `$` (such as `$SYS/...`).
    public func matches(_ topic: String) -> Bool {
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = levels.first, first != .literal(String(topicLevels[0])) {
            return false
        }
        var i = 0
        for level in levels {
            switch level {
            case .multiWildcard: return true
            case .singleWildcard:
                guard i < topicLevels.count else { return false }
            case .literal(let name):
                guard i < topicLevels.count, topicLevels[i] == name else { return false }
            }
            i += 1
        }
        return i == topicLevels.count
    }
}
