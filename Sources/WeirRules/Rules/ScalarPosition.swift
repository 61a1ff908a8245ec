import WeirCore
import WeirYAML

/// Maps an offset inside a YAML scalar's value back to a line and column in the file, so a SQL
/// error points at the character in the operator's file, not inside the extracted string.
enum ScalarPosition {
    static func locate(byteOffset: Int, in value: String, node: YAMLNode, lines: [Substring]) -> SourceLocation {
        let utf8 = value.utf8
        let clamped = min(max(byteOffset, 0), utf8.count)
        let index = utf8.index(utf8.startIndex, offsetBy: clamped)
        let charOffset = value.distance(from: value.startIndex, to: index)
        return locate(charOffset: charOffset, node: node, lines: lines)
    }

    static func locate(charOffset: Int, node: YAMLNode, lines: [Substring]) -> SourceLocation {
        let start = node.location
        var segments: [(line: Int, column: Int, length: Int)] = []
        let separator: Int = 1  // a newline (literal) or a folding space
        switch node.scalarStyle {
        case .literal?, .folded?:
            // Content starts on the line after the indicator, at the first content line's indentation.
            var lineNumber = start.line + 1
            var indent: Int?
            while lineNumber <= lines.count {
                let line = lines[lineNumber - 1]
                let leading = line.prefix(while: { $0 == " " }).count
                if line.allSatisfy({ $0 == " " }) {
                    segments.append((lineNumber, leading + 1, 0))
                } else {
                    if indent == nil { indent = leading }
                    guard let indent, leading >= indent else { break }
                    segments.append((lineNumber, indent + 1, line.count - indent))
                }
                lineNumber += 1
            }
        default:
            let quoted = node.scalarStyle == .singleQuoted || node.scalarStyle == .doubleQuoted
            var lineNumber = start.line
            var column = start.column + (quoted ? 1 : 0)
            while lineNumber <= lines.count {
                let line = lines[lineNumber - 1]
                let rest = line.dropFirst(column - 1)
                segments.append((lineNumber, column, rest.count))
                lineNumber += 1
                guard lineNumber <= lines.count else { break }
                let next = lines[lineNumber - 1]
                let leading = next.prefix(while: { $0 == " " }).count
                // Continuation lines of a flow scalar are indented past the key.
                guard leading >= start.column - 1, !next.isEmpty else { break }
                column = leading + 1
            }
        }
        var remaining = charOffset
        for segment in segments {
            if remaining <= segment.length {
                return SourceLocation(file: start.file, line: segment.line, column: segment.column + remaining)
            }
            remaining -= segment.length + separator
        }
        return start
    }
}
