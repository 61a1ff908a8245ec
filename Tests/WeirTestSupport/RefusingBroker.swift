import Foundation
import Glibc
import Synchronization

/// A minimal MQTT 5 broker for what mosquitto cannot be made to do or show: answer QoS 1
/// publishes with a chosen PUBACK reason code (0x97 Quota exceeded, ...) before it accepts them,
/// and record the properties each CONNECT carried. It speaks just enough of MQTT 5 for one client:
/// CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH/PUBACK, PINGREQ, DISCONNECT.
public final class RefusingBroker: Sendable {
    public let port: Int
    private let listener: Int32
    /// Reason codes for the next publishes, in order; once used up, publishes are accepted (0x00).
    private let refusals: Mutex<[UInt8]>
    private let accepted = Mutex<[[UInt8]]>([])
    private let refused = Mutex<[[UInt8]]>([])
    private let stopping = Atomic<Bool>(false)
    private let connects = Mutex<[[UInt8: UInt32]]>([])

    public init(refusals: [UInt8]) throws {
        self.refusals = Mutex(refusals)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 4) == 0 else {
            close(fd)
            throw TestSupportError("RefusingBroker cannot listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    deinit { stop() }

    /// The numeric properties of each CONNECT received (Session Expiry Interval 0x11, Receive
    /// Maximum 0x21, Maximum Packet Size 0x27, ...), by property identifier.
    public var connectProperties: [[UInt8: UInt32]] { connects.withLock { $0 } }

    /// Payloads of the publishes accepted, and of those refused, in arrival order.
    public var acceptedPayloads: [[UInt8]] { accepted.withLock { $0 } }
    public var refusedPayloads: [[UInt8]] { refused.withLock { $0 } }

    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while !stopping.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            // Each connection on its own thread: a daemon opens several (ingest, publisher, upstream).
            Thread { [self] in
                handle(client)
                close(client)
            }.start()
        }
    }

    private func handle(_ fd: Int32) {
        while let (type, body) = readPacket(fd) {
            switch type >> 4 {
            case 1:  // CONNECT: CONNACK, session not present, success, no properties (MQTT 5)
                guard body.count > 6, body[6] == 5 else {
                    send(fd, [0x20, 2, 0, 0])  // 3.1.1 CONNACK: accepted, and nothing more for it
                    continue
                }
                let properties = Self.numericProperties(body)
                connects.withLock { $0.append(properties) }
                send(fd, [0x20, 3, 0, 0, 0])
            case 8:  // SUBSCRIBE: SUBACK granting QoS 1 to each filter
                let packetID = Array(body[0..<2])
                let (propertiesLength, size) = Self.varint(body, at: 2)
                var offset = 2 + size + propertiesLength
                var granted: [UInt8] = []
                while offset + 2 <= body.count {
                    offset += 2 + (Int(body[offset]) << 8 | Int(body[offset + 1])) + 1
                    granted.append(1)
                }
                send(fd, [0x90, UInt8(3 + granted.count)] + packetID + [0] + granted)
            case 3:  // PUBLISH
                let qos = (type >> 1) & 3
                let topicLength = Int(body[0]) << 8 | Int(body[1])
                var offset = 2 + topicLength
                var packetID: [UInt8] = []
                if qos > 0 {
                    packetID = Array(body[offset..<offset + 2])
                    offset += 2
                }
                let (propertiesLength, size) = Self.varint(body, at: offset)
                let payload = Array(body[(offset + size + propertiesLength)...])
                guard qos == 1 else { continue }
                let code = refusals.withLock { $0.isEmpty ? 0 : $0.removeFirst() }
                if code == 0 { accepted.withLock { $0.append(payload) } } else { refused.withLock { $0.append(payload) } }
                send(fd, [0x40, 4] + packetID + [code, 0])
            case 12:  // PINGREQ
                send(fd, [0xD0, 0])
            case 14:  // DISCONNECT
                return
            default:
                continue
            }
        }
    }

    /// The integer properties of a CONNECT's variable header (strings and pairs skipped).
    static func numericProperties(_ body: [UInt8]) -> [UInt8: UInt32] {
        // "MQTT" with its length, the version, the flags and the keepalive come first.
        var offset = 2 + 4 + 1 + 1 + 2
        guard body.count > offset else { return [:] }
        let (length, size) = varint(body, at: offset)
        offset += size
        let end = min(body.count, offset + length)
        var result: [UInt8: UInt32] = [:]
        func string(_ at: Int) -> Int { 2 + (Int(body[at]) << 8 | Int(body[at + 1])) }
        while offset < end {
            let id = body[offset]
            offset += 1
            let width: Int
            switch id {
            case 0x11, 0x27: width = 4
            case 0x21, 0x22: width = 2
            case 0x17, 0x19: width = 1
            case 0x15, 0x16:
                offset += string(offset)
                continue
            case 0x26:
                offset += string(offset)
                offset += string(offset)
                continue
            default: return result
            }
            result[id] = body[offset..<offset + width].reduce(0) { $0 << 8 | UInt32($1) }
            offset += width
        }
        return result
    }

    private func readPacket(_ fd: Int32) -> (UInt8, [UInt8])? {
        guard let first = readExactly(fd, 1)?.first else { return nil }
        var length = 0
        var shift = 0
        while true {
            guard let byte = readExactly(fd, 1)?.first else { return nil }
            length |= Int(byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 { break }
        }
        guard let body = length == 0 ? [] : readExactly(fd, length) else { return nil }
        return (first, body)
    }

    private func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            if n <= 0 { return nil }
            done += n
        }
        return buffer
    }

    static func varint(_ bytes: [UInt8], at start: Int) -> (value: Int, size: Int) {
        var value = 0
        var index = start
        var shift = 0
        while index < bytes.count {
            value |= Int(bytes[index] & 0x7F) << shift
            shift += 7
            index += 1
            if bytes[index - 1] & 0x80 == 0 { break }
        }
        return (value, index - start)
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
