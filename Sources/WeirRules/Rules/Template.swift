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
        var out = ""
        for segment in segments {
            switch segment {
            case .literal(let s): out += s
            case .column(let name):
                if let value = row[name], !value.isNull {
                    if case .string(let s) = value { out += s } else { out += value.description }
                } else if let value = extra[name] {
                    out += value
                } else {
                    throw RenderError(description: "template '\(text)' needs column '\(name)', which is missing or null")
                }
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
