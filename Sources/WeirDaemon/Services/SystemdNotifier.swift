import Glibc
import Logging
import ServiceLifecycle
import WeirCore

/// Speaks systemd's notify protocol (`sd_notify(3)`) over `$NOTIFY_SOCKET`: READY=1 once ingest is
/// connected and subscribed, WATCHDOG=1 at half the watchdog interval while the daemon's loops
/// show progress (`ProgressWatch`), STOPPING=1 on shutdown.
///
/// Written against the documented datagram protocol rather than linking libsystemd: it is one
/// `sendto` on a Unix socket, and outside systemd (no `NOTIFY_SOCKET`) it does nothing.
public struct SystemdNotifier: Service {
    let socketPath: String?
    let watchdogInterval: Duration?
    let readiness: Readiness
    /// Asked before each WATCHDOG=1: a loop busy without progress for a whole interval withholds it.
    let progress: ProgressWatch?
    let logger: Logger

    public init(environment: [String: String], readiness: Readiness, progress: ProgressWatch? = nil, logger: Logger) {
        self.progress = progress
        socketPath = environment["NOTIFY_SOCKET"]
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
        self.readiness = readiness
        self.logger = logger
    }

    public func run() async throws {
        guard socketPath != nil else {
            // Not under systemd: nothing to tell, but stay alive like the other services.
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    if await readiness.wait() {
                        notify("READY=1\nSTATUS=connected and subscribed")
                    }
                }
                if let watchdogInterval {
                    group.addTask {
                        while !Task.isCancelled && !Task.isShuttingDownGracefully {
                            heartbeat(interval: watchdogInterval)
                            try? await Task.sleep(for: watchdogInterval)
                        }
                    }
                }
                try? await gracefulShutdown()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            notify("STOPPING=1\nSTATUS=stopping")
        }
    }

    /// Sends WATCHDOG=1 unless a loop has been busy without progress for `interval`; then systemd
    /// restarts the daemon once `WatchdogSec` passes without one. Being idle, or waiting on
    /// purpose (backpressure, a store paused by a fault), is not a stall.
    func heartbeat(interval: Duration) {
        let stalled = progress?.stalled(limit: interval) ?? []
        guard stalled.isEmpty else {
            logger.critical(
                "no progress: withholding the systemd watchdog so that systemd restarts weir",
                metadata: ["stalled": "\(stalled.map { "\($0.name) for \($0.for)" }.joined(separator: ", "))"])
            notify("STATUS=stalled: \(stalled.map(\.name).joined(separator: ", "))")
            return
        }
        notify("WATCHDOG=1")
    }

    /// Sends one notification datagram; failures are logged, never fatal.
    func notify(_ message: String) {
        guard var path = socketPath else { return }
        // A leading '@' names a socket in the abstract namespace.
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count + (abstract ? 1 : 0) < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let offset = abstract ? 1 : 0
            for (i, byte) in bytes.enumerated() { raw[i + offset] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 1 : 0))
        let sent = message.utf8CString.withUnsafeBufferPointer { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        if sent < 0 {
            logger.warning("sd_notify failed", metadata: ["message": "\(message)", "errno": "\(errno)"])
        }
    }
}
