import CYAML

/// A position in YAML text, as libyaml counts it: 1-based line, 1-based column in Unicode scalars.
public struct YAMLMark: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init(_ mark: yaml_mark_t) {
        line = Int(clamping: mark.line) + 1
        column = Int(clamping: mark.column) + 1
    }

    public var description: String { "\(line):\(column)" }
}

/// Why YAML text could not become a tree: libyaml's reader, scanner or parser error (its own
/// text, its position), or one of the composer's (an undefined alias, aliases expanding past
/// `YAMLTree.maxAliasExpansion`).
public struct YAMLError: Error, Sendable, CustomStringConvertible {
    public enum Stage: String, Sendable {
        /// libyaml could not allocate.
        case memory
        /// The bytes: a character YAML does not allow (control characters), invalid UTF-8.
        case reader
        case scanner
        case parser
        case composer
    }

    public var stage: Stage
    /// libyaml's text for the problem, such as "found character that cannot start any token".
    public var problem: String
    /// Where the problem is (for a reader error, where the scanner was: see `offset`).
    public var mark: YAMLMark
    /// What libyaml was doing, such as "while scanning a quoted scalar", and where that began.
    public var context: String?
    public var contextMark: YAMLMark?
    /// Reader errors: the byte offset of the offending character, and its value.
    public var offset: Int
    public var value: Int32

    public init(
        stage: Stage, problem: String, mark: YAMLMark, context: String? = nil, contextMark: YAMLMark? = nil, offset: Int = 0,
        value: Int32 = 0
    ) {
        self.stage = stage
        self.problem = problem
        self.mark = mark
        self.context = context
        self.contextMark = contextMark
        self.offset = offset
        self.value = value
    }

    /// The error libyaml recorded in `parser` after a call failed.
    init(parser: UnsafePointer<yaml_parser_t>) {
        let state = parser.pointee
        switch state.error {
        case YAML_READER_ERROR: stage = .reader
        case YAML_SCANNER_ERROR: stage = .scanner
        case YAML_PARSER_ERROR: stage = .parser
        case YAML_COMPOSER_ERROR: stage = .composer
        default: stage = .memory
        }
        problem = state.problem.map { String(cString: $0) } ?? (stage == .memory ? "out of memory" : "unknown error")
        mark = YAMLMark(state.problem_mark)
        context = state.context.map { String(cString: $0) }
        contextMark = state.context == nil ? nil : YAMLMark(state.context_mark)
        offset = Int(clamping: state.problem_offset)
        value = state.problem_value
    }

    public var description: String {
        "\(mark): \(stage.rawValue) error: " + (context.map { "\($0) " } ?? "") + problem
    }
}

/// The one funnel for libyaml calls: they return 1 on success and 0 on failure, leaving the
/// error in the parser. Failure becomes a thrown `YAMLError`.
@inline(__always)
func libyaml(_ result: Int32, _ parser: UnsafePointer<yaml_parser_t>) throws(YAMLError) {
    guard result == 0 else { return }
    throw YAMLError(parser: parser)
}
