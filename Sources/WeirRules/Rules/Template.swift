import WeirCore

/// A string with `${column}` placeholders, parsed once and filled from an output row.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case column(String)
    }

    public let text: String
    public let segments: [Segment]

    /// Why a row could not fill the template.
    public struct RenderError: Error, Sendable, CustomStringConvertible {
        public var description: String
        /// The values would have taken the topic out of its template (`renderTopic`).
        public var refusedTopic = false
    }

    public init(_ text: String) throws(TemplateSyntaxError) {
        var segments: [Segment] = []
        var literal = ""
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == "$", text.index(after: index) < text.endIndex, text[text.index(after: index)] == "{" {
                let nameStart = text.index(index, offsetBy: 2)
                guard let close = text[nameStart...].firstIndex(of: "}") else {
                    throw TemplateSyntaxError(message: "unclosed '${' in template", offset: text.distance(from: text.startIndex, to: index))
                }
                let name = text[nameStart..<close].trimmingSpaces
                guard !name.isEmpty else {
                    throw TemplateSyntaxError(message: "empty '${}' in template", offset: text.distance(from: text.startIndex, to: index))
                }
                if !literal.isEmpty { segments.append(.literal(literal)) }
                literal = ""
                segments.append(.column(name))
                index = text.index(after: close)
            } else {
                literal.append(text[index])
                index = text.index(after: index)
            }
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        self.text = text
        self.segments = segments
    }

    public var description: String { text }

    /// The column names the template reads.
    public var columns: [String] {
        segments.compactMap {
            if case .column(let name) = $0 { return name }
            return nil
        }
    }

    /// Fills the placeholders: strings as they are, other values as JSON text. A missing or null
    /// column is an error rather than an empty string, so no message goes to a half-built topic.
    public func render(_ row: JSONObject, extra: [String: String] = [:]) throws(RenderError) -> String {
        try render(row, extra: extra) { _, _ throws(RenderError) in }
    }

    /// Fills the placeholders of a topic (`publish`, `emit`), so that values from devices cannot
    /// take the message out of the template: an inserted value may not contain `+`, `#` or NUL
    /// (a NUL would cut the topic where libmosquitto reads it), and the topic may not start with
    /// `$` (`$SYS/…`, a broker's own topics) unless the template's own text does. A `/` in a value
    /// is allowed: it adds levels, as mirroring rules expect. Failures have `refusedTopic` set.
    public func renderTopic(_ row: JSONObject, extra: [String: String] = [:]) throws(RenderError) -> String {
        let topic = try render(row, extra: extra) { name, value throws(RenderError) in
            if let bad = value.unicodeScalars.first(where: { $0 == "+" || $0 == "#" || $0 == "\u{0}" }) {
                let shown = bad == "\u{0}" ? "NUL" : "'\(bad)'"
                throw RenderError(
                    description: "topic template '\(text)': the value of '\(name)' contains \(shown), which a topic value may not",
                    refusedTopic: true)
            }
        }
        if topic.isEmpty { throw RenderError(description: "topic template '\(text)' gave an empty topic", refusedTopic: true) }
        if topic.hasPrefix("$"), !startsWithDollar {
            throw RenderError(
                description: "topic template '\(text)' gave '\(topic)': a value may not make a topic start with '$'", refusedTopic: true)
        }
        return topic
    }

    /// Whether the template's own text (its first literal, not a `${…}`) starts with `$`.
    private var startsWithDollar: Bool {
        if case .literal(let first)? = segments.first { return first.hasPrefix("$") }
        return false
    }

    private func render(
        _ row: JSONObject, extra: [String: String], check: (String, String) throws(RenderError) -> Void
    ) throws(RenderError) -> String {
        var out = ""
        for segment in segments {
            switch segment {
            case .literal(let s): out += s
            case .column(let name):
                let inserted: String
                if let value = row[name], !value.isNull {
                    if case .string(let s) = value { inserted = s } else { inserted = value.description }
                } else if let value = extra[name] {
                    inserted = value
                } else {
                    throw RenderError(description: "template '\(text)' needs column '\(name)', which is missing or null")
                }
                try check(name, inserted)
                out += inserted
            }
        }
        return out
    }
}

/// A malformed template, with the character offset of the problem.
public struct TemplateSyntaxError: Error, Sendable, Equatable {
    public var message: String
    public var offset: Int
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
