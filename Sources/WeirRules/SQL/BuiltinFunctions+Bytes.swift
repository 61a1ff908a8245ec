import Glibc
import WeirCore
import WeirCrypto

/// The text encodings of bytes that encode/decode know.
enum ByteEncoding: String {
    case base64, hex

    init(name: String, function: String) throws(EvaluationError) {
        guard let known = ByteEncoding(rawValue: name.lowercased()) else {
            throw EvaluationError("\(function): unknown encoding '\(name)' (expected 'base64' or 'hex')")
        }
        self = known
    }
}

/// Byte order for the packed-frame decoders; big-endian (network order) by default.
enum ByteOrder {
    case big, little

    init(name: String, function: String) throws(EvaluationError) {
        switch name.lowercased() {
        case "be", "big": self = .big
        case "le", "little": self = .little
        default: throw EvaluationError("\(function): unknown byte order '\(name)' (expected 'be' or 'le')")
        }
    }
}

extension Evaluator {
    /// Hashes, encode/decode, hex/unhex.
    static func callBytes(_ function: BuiltinFunction, _ args: [JSONValue]) throws(EvaluationError) -> JSONValue {
        let name = function.rawValue
        switch function {
        case .encode:
            let scheme = try ByteEncoding(name: try string(args[1], name), function: name)
            let bytes = bytesOf(args[0])
            return .string(scheme == .base64 ? Base64.encode(bytes) : Hex.encode(bytes))
        case .decode:
            let scheme = try ByteEncoding(name: try string(args[1], name), function: name)
            let text = try string(args[0], name)
            guard let bytes = scheme == .base64 ? Base64.decode(text) : Hex.decode(text) else {
                throw EvaluationError("decode: the text is not \(scheme.rawValue)")
            }
            return .bytes(bytes)
        case .hex:
            if case .int(let i) = args[0] {
                guard i >= 0 else { throw EvaluationError("hex of a negative number") }
                return .string(String(i, radix: 16))
            }
            return .string(Hex.encode(try bytesOrString(args[0], name)))
        case .unhex:
            guard let bytes = Hex.decode(try string(args[0], name)) else { throw EvaluationError("unhex: the text is not hex") }
            return .bytes(bytes)
        case .crc32:
            return .int(Int64(crc32(try bytesOrString(args[0], name))))
        default:
            let digest = Digest(rawValue: name) ?? .sha256
            let input = try bytesOrString(args[0], name)
            do throws(CryptoError) {
                return .string(Hex.encode(try digest.hash(input)))
            } catch {
                throw EvaluationError("\(name): \(error)")
            }
        }
    }

    /// CRC-32 (IEEE 802.3, as zlib and AWS IoT's crc32 compute it). By hand: eight lines, and no
    /// C library of Weir's has it apart from zlib, which Weir does not link itself.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// Bytes as they are, strings as UTF-8: what a hash or a decoder reads.
    static func bytesOrString(_ value: JSONValue, _ function: String) throws(EvaluationError) -> [UInt8] {
        switch value {
        case .bytes(let b): return b
        case .string(let s): return Array(s.utf8)
        default: throw EvaluationError("\(function) needs bytes or a string, got \(value.typeName)")
        }
    }

    /// Any value as bytes for encode: bytes, strings as UTF-8, everything else as its JSON text
    /// (so encode(payload(), 'base64') works for every format).
    static func bytesOf(_ value: JSONValue) -> [UInt8] {
        switch value {
        case .bytes(let b): return b
        case .string(let s): return Array(s.utf8)
        default: return JSONWriter.bytes(value)
        }
    }

    /// uint8(bytes, offset), int16(bytes, offset [, 'be'|'le']) and the others: a number read
    /// from a packed frame at a 0-based byte offset.
    static func decodeBinary(_ function: BuiltinFunction, _ args: [JSONValue]) throws(EvaluationError) -> JSONValue {
        let name = function.rawValue
        guard case .bytes(let bytes) = args[0] else {
            throw EvaluationError("\(name) needs bytes (a format: binary payload(), or decode(x, 'hex')), got \(args[0].typeName)")
        }
        let offset = try integer(args[1], name)
        let order = args.count == 3 ? try ByteOrder(name: try string(args[2], name), function: name) : .big
        let width: Int
        switch function {
        case .int8, .uint8: width = 1
        case .int16, .uint16: width = 2
        case .int32, .uint32, .float32: width = 4
        default: width = 8
        }
        guard offset >= 0, offset <= Int64(bytes.count - width) else {
            throw EvaluationError("\(name) at offset \(offset) reads past the end of \(bytes.count) bytes")
        }
        var raw: UInt64 = 0
        for index in 0..<width {
            let byte = bytes[Int(offset) + (order == .big ? index : width - 1 - index)]
            raw = raw << 8 | UInt64(byte)
        }
        switch function {
        case .int8: return .int(Int64(Int8(truncatingIfNeeded: raw)))
        case .int16: return .int(Int64(Int16(truncatingIfNeeded: raw)))
        case .int32: return .int(Int64(Int32(truncatingIfNeeded: raw)))
        case .int64: return .int(Int64(bitPattern: raw))
        case .float32: return .double(Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw))))
        case .float64: return .double(Double(bitPattern: raw))
        default: return .int(Int64(raw))
        }
    }
}
