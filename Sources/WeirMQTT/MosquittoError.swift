import CMosquitto
import Glibc
import WeirCore

/// A libmosquitto call that failed, with the call's name and libmosquitto's own explanation.
public struct MosquittoError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var message: String

    public var description: String { "\(operation) failed: \(message) (rc=\(code))" }
}

/// Where a connection attempt or session ended, in words an operator can act on.
public struct MQTTConnectionRefused: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var description: String { "broker refused the connection: \(String(cString: mosquitto_connack_string(code)))" }
}

/// The one funnel for libmosquitto return codes: every fallible call goes through here.
@inline(__always)
func mosq(_ operation: StaticString, _ rc: Int32) throws(MosquittoError) {
    guard rc == MOSQ_ERR_SUCCESS.rawValue else {
        throw MosquittoError(operation: "\(operation)", code: rc, message: mosquittoMessage(rc))
    }
}

func mosquittoMessage(_ rc: Int32) -> String {
    if rc == MOSQ_ERR_ERRNO.rawValue {
        return String(cString: strerror(errno))
    }
    return String(cString: mosquitto_strerror(rc))
}

/// libmosquitto must be initialised once per process before the first client.
let mosquittoLibrary: Void = {
    mosquitto_lib_init()
}()
