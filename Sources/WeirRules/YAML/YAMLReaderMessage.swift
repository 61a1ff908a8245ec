import WeirYAML

extension YAMLFile {
    /// A reader error (a character YAML does not allow) worded as Yams described it, which is what
    /// `weir check` has always printed: `line:col: error: reader: <problem>:`, then the line and a
    /// caret under the character, its column counted in UTF-16 code units.
    static func readerMessage(_ error: YAMLError, in text: String) -> String {
        let utf8 = text.utf8
        guard let byte = utf8.index(utf8.startIndex, offsetBy: error.offset, limitedBy: utf8.endIndex),
            let index = byte.samePosition(in: text), index < text.endIndex
        else { return "\(error.problem) at offset: nil, value: \(error.value)" }
        let scalars = text.unicodeScalars
        var lineStart = scalars.startIndex
        var number = 0
        var position = scalars.startIndex
        var lineEnd = scalars.endIndex
        // Lines end as Foundation's getLineStart ends them: \n, \r, \r\n, U+0085, U+2028, U+2029.
        while position < scalars.endIndex {
            var next = scalars.index(after: position)
            switch scalars[position] {
            case "\n", "\u{85}", "\u{2028}", "\u{2029}":
                break
            case "\r":
                if next < scalars.endIndex, scalars[next] == "\n" { next = scalars.index(after: next) }
            default:
                position = next
                continue
            }
            if next > index || next == scalars.endIndex {
                lineEnd = next
                break
            }
            number += 1
            lineStart = next
            position = next
        }
        var contents = String(scalars[lineStart..<lineEnd])
        let endsWithNewline = contents.unicodeScalars.last.map {
            (0x0A...0x0D).contains($0.value) || [0x85, 0x2028, 0x2029].contains($0.value)
        }
        if endsWithNewline != true { contents += "\n" }
        let column = text.utf16.distance(from: lineStart, to: index)
        return "\(number + 1):\(column + 1): error: reader: \(error.problem):\n" + contents + String(repeating: " ", count: column) + "^"
    }
}
