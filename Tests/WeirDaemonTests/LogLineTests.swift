import Foundation
import Logging
import Testing
import WeirTestSupport

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

    /// A quote inside a quoted value cannot close it early and forge a key.
    @Test func aQuotedValueKeepsItsQuotesAndBackslashes() {
        let line = Self.line("m", ["error": #"x\" rule=evil"#])
        #expect(line == #"<4>m error="x\\\" rule=evil""# + "\n")
    }

    @Test func plainTextIsUnchanged() {
        let line = Self.line("rule failed on event", ["rule": "hot", "pattern": #"^\d+$"#, "error": "needs a number"])
        #expect(line == #"<4>rule failed on event error="needs a number" pattern=^\d+$ rule=hot"# + "\n")
    }
}

/// Which `Host` headers the admin server takes commands for (DNS rebinding sends its own name).
@Suite struct AdminHostTests {
    @Test func onlyLoopbackNamesAndAddressesPass() {
        for good in ["127.0.0.1", "127.0.0.1:9110", "127.1.2.3:80", "localhost", "LOCALHOST:9110", "[::1]", "[::1]:9110"] {
            #expect(AdminHandler.isLoopbackHost(good), "\(good)")
        }
        for bad in [
            nil, "", "evil.example", "127.foo.attacker.com", "127.0.0.1.evil.com", "[::1]evil", "[::1]:x", "10.0.0.1", "127.0.0.256",
            "127.0.0.1:notaport", "localhost.evil.com",
        ] {
            #expect(!AdminHandler.isLoopbackHost(bad), "\(bad ?? "nil")")
        }
    }

    /// An empty token file (a crash while it was made) is replaced, not a lockout.
    @Test func anEmptyTokenFileIsMadeAgain() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-token")
        let path = AdminToken.path(stateDir: dir.path)
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let token = try AdminToken.loadOrCreate(stateDir: dir.path)
        #expect(token.count == 64)
        #expect(try AdminToken.read(stateDir: dir.path) == token)
        #expect(try AdminToken.loadOrCreate(stateDir: dir.path) == token, "made once, then read")
    }
}
