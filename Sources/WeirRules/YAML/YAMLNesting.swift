import WeirCore

/// A bound on how deeply YAML text nests, checked before libyaml sees the text. It was added when
/// Yams built the node tree recursively, so that a file of `[[[[…` or `- - - …` a few thousand
/// levels deep overflowed the stack (found by fuzzing; docs/fuzzing.md). `YAMLTree` now builds the
/// tree with an explicit stack; the bound stays, so those files are still refused with the same
/// diagnostic, nothing that reads a tree needs to care about depth, and libyaml never sees deep
/// flow nesting, on which its scanner spends time that grows with the square of the depth
/// (100,000 levels of `[`: minutes).
///
/// The estimate never comes out below the real depth: per line, the block levels open (a stack of
/// indentation widths, as Python counts indentation), the compact `- ` and `? ` entries that open
/// at the start of the line, and the flow brackets (`[`, `{`) still open, counted outside comments.
/// Brackets inside quoted or plain scalars count too, which can only raise the estimate.
enum YAMLNesting {
    /// Far deeper than any configuration or rule file, far shallower than what overflows a 512 KiB
    /// stack in a debug build.
    static let maxDepth = 128

    /// Throws a diagnostic at the first line whose estimated depth passes `maxDepth`.
    static func check(_ text: String, file: String) throws(Diagnostic) {
        var indents: [Int] = [0]
        var flow = 0
        var lineNumber = 0
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var index = line.startIndex
            while index < line.endIndex, line[index] == UInt8(ascii: " ") { index = line.index(after: index) }
            guard index < line.endIndex, line[index] != UInt8(ascii: "#"), line[index] != UInt8(ascii: "\r") else { continue }
            let indent = line.distance(from: line.startIndex, to: index)
            if flow == 0 {
                while let last = indents.last, last > indent { indents.removeLast() }
                if indent > (indents.last ?? 0) { indents.append(indent) }
            }
            var compact = 0
            var deepest = indents.count + flow
            var previous = UInt8(ascii: " ")
            var atStart = true
            while index < line.endIndex {
                let byte = line[index]
                let next = line.index(after: index)
                let followedBySpace = next == line.endIndex || line[next] == UInt8(ascii: " ")
                if atStart && (byte == UInt8(ascii: "-") || byte == UInt8(ascii: "?")) && followedBySpace {
                    compact += 1
                } else if byte != UInt8(ascii: " ") {
                    atStart = false
                }
                switch byte {
                case UInt8(ascii: "#") where previous == UInt8(ascii: " "):
                    index = line.endIndex
                    continue
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    flow += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    flow = max(0, flow - 1)
                default:
                    break
                }
                deepest = max(deepest, indents.count + compact + flow)
                previous = byte
                index = next
            }
            if deepest > maxDepth {
                throw Diagnostic(
                    SourceLocation(file: file, line: lineNumber, column: 1),
                    "YAML nested more than \(maxDepth) levels deep (lists and mappings inside each other)")
            }
        }
    }
}
