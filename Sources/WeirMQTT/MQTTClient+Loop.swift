import CMosquitto
import Dispatch
import Glibc
import Synchronization
import WeirCore

// Weir's own network loop, in place of mosquitto_loop_forever: it decides when acknowledgements
// leave (after a batch's settlement), batches reads, wakes at once for publishes and subscribes
// made from other threads, and owns the reconnect backoff.
extension MQTTClient {
    func runLoop() {
        var backoff = ReconnectBackoff(configuration: configuration)
        var first = true
        // One line for the first failure, then at most one per 10 s.
        var failureLog = LogThrottle(interval: .seconds(10))
        while !isStopping {
            if state.withLock({ $0.paused }) != nil {
                if canConnect?() ?? true {
                    state.withLock { $0.paused = nil }
                    logger.notice("MQTT reconnecting: the store accepts writes again")
                } else {
                    _ = wake.wait(milliseconds: 500)
                    continue
                }
            }
            let rc: Int32
            if first {
                rc = connectFirst()
                first = false
            } else {
                rc = mosquitto_reconnect(handle)
            }
            if rc == MOSQ_ERR_SUCCESS.rawValue {
                let connectsBefore = state.withLock { $0.connects }
                serve()
                if isStopping { break }
                // Not after a batch that could not be settled: if it fails again on redelivery
                // (not a full disk), reconnecting must back off instead of retrying every 100 ms.
                let dropped = state.withLock { $0.paused } != nil
                if !dropped, state.withLock({ $0.connects }) > connectsBefore { backoff.connectionEnded() }
                // A TLS handshake or a refused CONNACK fails inside the loop, not in mosquitto_connect.
                if !state.withLock({ $0.connected }) { onConnection?(.connectFailed(reason: "connection closed before CONNACK")) }
            } else {
                let reason = mosquittoMessage(rc)
                // Attempts since the last line: the ones refused meanwhile, and this one.
                let attempts = failureLog.suppressed() + 1
                if failureLog.allow() {
                    logger.warning(
                        "MQTT connect to \(configuration.host):\(configuration.port) failed",
                        metadata: ["error": "\(reason)", "attempts": "\(attempts)"])
                }
                onConnection?(.connectFailed(reason: reason))
            }
            _ = wake.wait(milliseconds: backoff.nextDelayMilliseconds())
        }
    }

    /// Runs one connection until it is lost, dropped unsettled, or closed by `shutdown()`.
    private func serve() {
        var disconnectQueued = false
        var stopSince: UInt64 = 0
        while true {
            let socket = mosquitto_socket(handle)
            guard socket >= 0 else { return }
            if isStopping {
                if stopSince == 0 { stopSince = monotonicNanos() }
                if !disconnectQueued {
                    mosquitto_disconnect(handle)
                    disconnectQueued = true
                }
                // A broker that never reads our DISCONNECT cannot hold the stop up.
                if monotonicNanos() - stopSince > 3_000_000_000 { return }
            }
            var fds = [
                pollfd(fd: socket, events: Int16(POLLIN) | (mosquitto_want_write(handle) ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: wake.readEnd, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, 1000)
            if ready < 0 && errno != EINTR { return }
            if fds[1].revents != 0 { wake.drain() }
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let rc = readBatch(socket)
                let batch = inbox
                inbox.removeAll(keepingCapacity: true)
                inboxBytes = 0
                if !batch.isEmpty, !deliver(batch) {
                    drop(socket)
                    return
                }
                guard rc == MOSQ_ERR_SUCCESS.rawValue, mosquitto_socket(handle) >= 0 else { return }
            }
            if mosquitto_want_write(handle) {
                guard mosquitto_loop_write(handle, 1) == MOSQ_ERR_SUCCESS.rawValue else { return }
            }
            // Keepalive: only here, never between a read and its settlement (a PINGREQ would
            // flush the batch's PUBACKs ahead of it).
            guard mosquitto_loop_misc(handle) == MOSQ_ERR_SUCCESS.rawValue else { return }
        }
    }

    /// Reads packets while the socket has more, up to `maxBatch` messages or `maxBatchBytes`. In libmosquitto 2.0,
    /// `mosquitto_loop_read` replaces its packet count with its own queue lengths, so a QoS 1
    /// subscriber reads one packet per call: call again while `poll(0)` says more is readable.
    private func readBatch(_ socket: Int32) -> Int32 {
        var rc = mosquitto_loop_read(handle, 1)
        while rc == MOSQ_ERR_SUCCESS.rawValue, inbox.count < maxBatch, inboxBytes < maxBatchBytes {
            var fd = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 0) > 0, fd.revents & Int16(POLLIN) != 0 else { break }
            rc = mosquitto_loop_read(handle, 1)
        }
        return rc
    }

    /// Hands the batch on and waits for its settlement; false when it cannot be settled.
    private func deliver(_ batch: [Event]) -> Bool {
        guard let onBatch, let settlement = onBatch(batch) else { return true }
        let started = monotonicNanos()
        var warned = false
        while true {
            if let outcome = settlement.wait(timeout: .milliseconds(250)) {
                if case .unsettled(let reason) = outcome {
                    logger.error(
                        "events could not be made durable: not acknowledged, the broker keeps them",
                        metadata: ["events": "\(batch.count)", "reason": "\(reason)"])
                    state.withLock { $0.paused = reason }
                    return false
                }
                return true
            }
            let waited = monotonicNanos() - started
            if isStopping, waited > 10_000_000_000 {
                logger.error("stopping with a batch still not durable: it stays unacknowledged", metadata: ["events": "\(batch.count)"])
                return false
            }
            if !warned, waited > UInt64(configuration.keepAliveSeconds) * 500_000_000 {
                warned = true
                logger.warning(
                    "a batch has waited half the keepalive to become durable; the broker may disconnect and resend it",
                    metadata: ["events": "\(batch.count)"])
            }
        }
    }

    /// Drops the connection without writing anything queued (the batch's PUBACKs): the broker
    /// keeps the messages in the session and delivers them again on reconnect, when libmosquitto
    /// also discards the queued packets.
    private func drop(_ socket: Int32) {
        // The read that ended the batch may have lost the connection already: libmosquitto then
        // closed the socket, and its number may belong to another connection by now.
        guard mosquitto_socket(handle) == socket else {
            inbox.removeAll()
            inboxBytes = 0
            return
        }
        _ = Glibc.shutdown(socket, Int32(SHUT_RDWR))
        // Lets libmosquitto see the closed socket, close it and report the disconnect.
        while mosquitto_socket(handle) >= 0, mosquitto_loop_read(handle, 1) == MOSQ_ERR_SUCCESS.rawValue {}
        inbox.removeAll()
        inboxBytes = 0
    }
}

/// How long to wait before the next connection attempt: short while the broker was recently
/// reachable (a restart is over in a second or two), exponential up to the configured maximum for
/// a broker that stays down.
struct ReconnectBackoff {
    let minimumMilliseconds: Int
    let maximumMilliseconds: Int
    var attempt = 0
    /// When the last connection ended (monotonic ns); 0 before any.
    var lastConnected: UInt64 = 0

    init(configuration: MQTTConfiguration) {
        minimumMilliseconds = max(100, configuration.reconnectDelayMin * 1000)
        maximumMilliseconds = max(minimumMilliseconds, configuration.reconnectDelayMax * 1000)
    }

    mutating func connectionEnded() {
        attempt = 0
        lastConnected = monotonicNanos()
    }

    mutating func nextDelayMilliseconds() -> Int {
        defer { attempt += 1 }
        let recentlyUp = lastConnected > 0 && monotonicNanos() - lastConnected < 30_000_000_000
        if recentlyUp { return min(100 << min(attempt, 10), 500) }
        return min(minimumMilliseconds << min(attempt, 16), maximumMilliseconds)
    }
}

/// A non-blocking socket pair that wakes the network loop from other threads (a publish or subscribe
/// queued, a shutdown). libmosquitto's own socketpair is not reachable through its API.
final class WakePipe: Sendable {
    let readEnd: Int32
    let writeEnd: Int32
    /// Set while a byte is in the pipe: a burst of publishes costs one write, not one each.
    private let signalled = Atomic<Bool>(false)

    init?() {
        var fds: [Int32] = [0, 0]
        // A socketpair rather than pipe2, which Glibc's module does not export; created
        // non-blocking and close-on-exec at once, so no child process inherits it.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { return nil }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Wakes the loop; a full pipe already means it will wake.
    func signal() {
        guard !signalled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &buffer, buffer.count) > 0 {}
        // Cleared after reading: a signal that saw the flag still set queued its work before
        // this point, and the loop looks for queued work after draining; a later one writes anew.
        signalled.store(false, ordering: .releasing)
    }

    /// Sleeps up to `milliseconds`, returning early (true) when signalled.
    func wait(milliseconds: Int) -> Bool {
        var fd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        let woken = poll(&fd, 1, Int32(milliseconds)) > 0
        if woken { drain() }
        return woken
    }
}
