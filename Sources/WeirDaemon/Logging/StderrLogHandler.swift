import FoundationEssentials
import Logging
import WeirCore

/// Logs one line per record to stderr, the way journald wants it.
///
/// Under systemd (`JOURNAL_STREAM` set) each line starts with a `<N>` syslog priority prefix, which
/// journald turns into the record's priority, and carries no timestamp (journald adds its own).
/// Elsewhere lines carry an ISO 8601 timestamp for a human at a terminal.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let journald: Bool

    public init(label: String, level: Logger.Level, journald: Bool) {
        self.label = label
        self.logLevel = level
        self.journald = journald
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        writeToStandardError(line(for: event))
    }

    /// The record as one line. Text from devices, files and functions (a topic, an error, a
    /// value) has its control characters escaped, so it cannot end the line and forge another
    /// record (with its own `<N>` priority) in the journal.
    func line(for event: LogEvent) -> String {
        var line = ""
        if journald {
            line += "<\(Self.priority(event.level))>"
        } else {
            line += Date().formatted(.iso8601) + " " + event.level.rawValue.uppercased() + " "
        }
        line += Self.escaped(event.message.description)
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            line += " \(Self.escaped(key))=\(Self.quoted(Self.escaped("\(merged[key]!)")))"
        }
        return line + "\n"
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// `text` with control characters (C0, DEL, C1, and the Unicode line and paragraph
    /// separators) written as `\n`, `\r`, `\t` or `\u{XX}`. Backslashes stay as they are (a
    /// regex or a Windows path reads as written): a literal `\n` cannot start a record, which is
    /// what matters. Text without control characters comes back unchanged.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar): out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    static func quoted(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" })
            ? "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"" : value
    }
}
