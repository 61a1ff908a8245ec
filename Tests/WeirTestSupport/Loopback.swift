import Glibc
import WeirDaemon

/// Loopback helpers for the tests and the benchmark: free ports, probes, admin requests, metric samples.
/// The HTTP client itself is the CLI's (`AdminClient`), so tests reach the daemon the way `weir` does.
public enum Loopback {
    /// A TCP socket connected to 127.0.0.1:`port`, or `nil` if nothing accepts there. Close it after use.
    public static func connect(port: Int) -> Int32? { AdminClient.connect(port: port) }

    /// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
    public static func freePort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends a plain `GET path` over HTTP/1.1 and returns the status and body.
    public static func httpGet(port: Int, path: String) -> (status: Int, body: String)? {
        http("GET", port: port, path: path)
    }

    /// Sends a bodiless request over HTTP/1.1 and returns the status and body; nil when nothing
    /// answers on the port.
    public static func http(
        _ method: String, port: Int, path: String, headers: [String: String] = [:], timeoutSeconds: Int = 5
    ) -> (status: Int, body: String)? {
        AdminClient.request(method, port: port, path: path, headers: headers, timeoutSeconds: timeoutSeconds)
    }

    /// The value of the Prometheus sample `series` (`name{labels}`) in an exposition, or `nil`.
    public static func metricValue(_ exposition: String, _ series: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}
