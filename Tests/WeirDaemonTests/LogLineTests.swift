import Logging
import Testing

@testable import WeirDaemon

/// A log record is one line whatever the text in it: a topic, an error or a value from a device
/// cannot end it and forge another record with its own priority in the journal.
@Suite struct LogLineTests {
    static func line(_ message: String, _ metadata: Logger.Metadata) -> String {
        StderrLogHandler(label: "t", level: .info, journald: true).line(
            for: LogEvent(
                level: .warning, message: "\(message)", metadata: metadata, source: "t", file: #fileID, function: #function,
                line: #line))
    }

    @Test func controlCharactersInTheMessageAndValuesAreEscaped() {
        let forged = "x\n<2>weir: store is corrupt, run rm -rf /var/lib/weir\r\u{1b}[2J\u{0}\u{85}\u{2028}"
        let line = Self.line("invalid event skipped \(forged)", ["topic": "\(forged)", "error\nkey": "e"])
        #expect(line.hasPrefix("<4>invalid event skipped x\\n<2>weir: store is corrupt"))
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"), "one line: \(line)")
        #expect(!line.unicodeScalars.dropLast().contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(line.contains(#"\r\u{1b}[2J\u{0}\u{85}\u{2028}"#))
        #expect(line.contains(#" error\nkey=e"#))
    }

    @Test func plainTextIsUnchanged() {
        let line = Self.line("rule failed on event", ["rule": "hot", "pattern": #"^\d+$"#, "error": "needs a number"])
        #expect(line == #"<4>rule failed on event error="needs a number" pattern=^\d+$ rule=hot"# + "\n")
    }
}
