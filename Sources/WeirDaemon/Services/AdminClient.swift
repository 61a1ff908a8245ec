import Glibc

/// The client side of the admin endpoint: what `weir` commands (dead-letter replay and purge, and
/// later `weir status`) use to reach a running daemon over loopback. Plain HTTP/1.1 with
/// `Connection: close`, one request per connection, a receive timeout: the admin server answers
/// small bodies, and a CLI must not hang on a stuck daemon.
public enum AdminClient {
    /// Sends a bodiless `method path` to 127.0.0.1:`port` and returns the status and body; nil when
    /// nothing answers there or the answer is not HTTP.
    public static func request(
        _ method: String, port: Int, path: String, headers: [String: String] = [:], timeoutSeconds: Int = 5
    ) -> (status: Int, body: String)? {
        guard let fd = connect(port: port) else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // `Host` defaults to the loopback address (the admin server refuses commands for any other).
        let host = headers["Host"] ?? "127.0.0.1:\(port)"
        let extra = headers.filter { $0.key != "Host" }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\r\n" }.joined()
        let request = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n\(extra)Content-Length: 0\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case let n = recv(fd, &buffer, buffer.count, 0), n > 0 { response += buffer[0..<n] }
        let text = String(decoding: response, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let body = text.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        return (status, body.count == 2 ? String(body[1]) : "")
    }

    /// A TCP socket connected to 127.0.0.1:`port`, or nil if nothing accepts there. Close it after use.
    public static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}
