import ArgumentParser
import Glibc
import WeirCore
import WeirDaemon

/// `weir tap`: what flows through the running daemon, live, one JSON line per event or row.
/// It shows payloads, so it needs the admin token (run it as the daemon's user or root).
struct TapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Watch a running daemon live: the events on a topic filter, or a rule's rows and actions (Ctrl-C stops).")

    @OptionGroup var options: ConfigOption
    @Option(help: "Show the events whose topic matches this filter.") var topic: String?
    @Option(help: "Show the rows this rule produces and the actions they run.") var rule: String?
    @Option(help: "Show this fraction of them (0 to 1).") var sample = 1.0
    @Option(help: "Show at most this many per second (the rest are counted as dropped).") var rate = 100
    @Option(help: "Stop after this many lines.") var limit: Int?

    func validate() throws {
        guard (topic == nil) != (rule == nil) else { throw ValidationError("give --topic or --rule (one of them)") }
        guard (0...1).contains(sample) else { throw ValidationError("--sample is a fraction between 0 and 1") }
    }

    func run() throws {
        let config = try options.load()
        guard config.admin.host != nil else { throw failure(printing: "weir tap: admin is off in \(config.path)") }
        let token: String
        do {
            token = try AdminToken.read(stateDir: config.stateDir)
        } catch {
            throw failure(printing: "weir tap: \(error)")
        }
        let what = topic.map { "topic=\(Self.percentEncoded($0))" } ?? "rule=\(Self.percentEncoded(rule ?? ""))"
        let path = "/tap?\(what)&sample=\(sample)&rate=\(rate)"
        guard let fd = AdminClient.connect(port: config.admin.port) else {
            throw failure(printing: "weir tap: no daemon answers on 127.0.0.1:\(config.admin.port) (is weir running?)")
        }
        defer { close(fd) }
        let request =
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(config.admin.port)\r\nX-Weir-Command: 1\r\nAuthorization: Bearer \(token)\r\n"
            + "Connection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var reader = ChunkedLineReader(fd: fd)
        guard let status = reader.readHead() else { throw failure(printing: "weir tap: the daemon closed the connection") }
        guard status == 200 else { throw failure(printing: "weir tap: the daemon refused (HTTP \(status)): \(reader.rest())") }
        var shown = 0
        while let line = reader.nextLine() {
            print(line)
            fflush(nil)
            shown += 1
            if let limit, shown >= limit { return }
        }
    }

    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-_./".contains(c)) { result.append(c) } else { result += "%" + hexByte(byte) }
        }
        return result
    }
}

/// Reads an HTTP/1.1 response from a socket: the status, then a chunked body as lines.
struct ChunkedLineReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var pending: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    /// Reads more bytes; false at the end of the stream.
    private mutating func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16384)
        let n = recv(fd, &chunk, chunk.count, 0)
        guard n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// A CRLF-terminated line of the raw stream, without the CRLF.
    private mutating func rawLine() -> [UInt8]? {
        while true {
            if let end = buffer.indices.dropLast().first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 }) {
                defer { buffer.removeFirst(end + 2) }
                return Array(buffer[..<end])
            }
            guard fill() else { return nil }
        }
    }

    /// The status code, after reading the response head.
    mutating func readHead() -> Int? {
        guard let statusLine = rawLine() else { return nil }
        while let header = rawLine(), !header.isEmpty {}
        let parts = String(decoding: statusLine, as: UTF8.self).split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) : nil
    }

    /// What is left of a (short, refused) response.
    mutating func rest() -> String {
        while fill() {}
        return String(decoding: buffer, as: UTF8.self).trimmingWhitespaceAndNewlines()
    }

    /// The next line of the chunked body; nil when the stream ends.
    mutating func nextLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                defer { pending.removeFirst(newline + 1) }
                return String(decoding: pending[..<newline], as: UTF8.self)
            }
            guard let size = rawLine(), let length = Int(String(decoding: size, as: UTF8.self), radix: 16), length > 0 else { return nil }
            while buffer.count < length + 2 {
                guard fill() else { return nil }
            }
            pending += buffer[..<length]
            buffer.removeFirst(length + 2)
        }
    }
}
