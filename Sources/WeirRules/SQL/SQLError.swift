/// A syntax or compile error in a rule's SQL, at a UTF-8 byte offset into the SQL text.
public struct SQLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int

    public init(_ message: String, at offset: Int) {
        self.message = message
        self.offset = offset
    }

    public var description: String { "\(message) (at byte \(offset))" }

    /// The 1-based line and column (in characters) of the error inside `sql`.
    public func lineAndColumn(in sql: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var consumed = 0
        for character in sql {
            if consumed >= offset { break }
            consumed += character.utf8.count
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}

/// Why a rule could not be evaluated on one event (a type error, overflow, bad conversion).
/// The event is skipped for that rule and counted against it.
public struct EvaluationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
