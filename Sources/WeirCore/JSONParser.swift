/// Why a payload is not acceptable JSON, with the byte offset where parsing stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case empty
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidNumber
        case invalidEscape
        case invalidUTF8
        case tooDeep(limit: Int)
        case trailingData
    }

    public var reason: Reason
    public var offset: Int

    public var description: String {
        switch reason {
        case .empty: return "empty payload"
        case .unexpectedEnd: return "unexpected end of JSON at byte \(offset)"
        case .unexpectedByte(let b): return "unexpected byte 0x\(String(b, radix: 16)) at byte \(offset)"
        case .invalidNumber: return "invalid number at byte \(offset)"
        case .invalidEscape: return "invalid escape sequence at byte \(offset)"
        case .invalidUTF8: return "invalid UTF-8 in string at byte \(offset)"
        case .tooDeep(let limit): return "nesting deeper than \(limit) levels at byte \(offset)"
        case .trailingData: return "data after the JSON value at byte \(offset)"
        }
    }
}

/// A strict RFC 8259 JSON parser for untrusted device payloads.
///
/// Hand-written rather than Foundation's `JSONSerialization` because it runs on the hot path for every
/// event, must produce `JSONValue` directly (no `Any` bridging), must bound nesting depth so a hostile
/// payload cannot exhaust the stack, and must reject invalid UTF-8 instead of repairing it.
public struct JSONParser {
    /// Default nesting bound; deeper payloads are rejected, never recursed into.
    public static let defaultMaxDepth = 128

    /// The bound for what Weir stored itself (outbox rows, dead letters, the journal, window
    /// state): a payload accepted at `defaultMaxDepth` comes back wrapped a few levels deeper (a
    /// dead letter holds `{"payload": {"row": …}}`), and a rule's SQL may nest it further, so
    /// reading it back with the payload's bound could fail on what was accepted.
    public static let storedMaxDepth = 512

    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(buffer: buffer, maxDepth: maxDepth)
            return Result { () throws(JSONParseError) -> JSONValue in try parser.parseDocument() }
        }
        return try result.get()
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    private let buffer: UnsafeBufferPointer<UInt8>
    private let maxDepth: Int
    private var index = 0
    private var depth = 0

    private init(buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.buffer = buffer
        self.maxDepth = maxDepth
    }

    private func fail(_ reason: JSONParseError.Reason) -> JSONParseError {
        JSONParseError(reason: reason, offset: index)
    }

    private mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        if index == buffer.count { throw fail(.empty) }
        let value = try parseValue()
        skipWhitespace()
        if index != buffer.count { throw fail(.trailingData) }
        return value
    }

    private mutating func skipWhitespace() {
        while index < buffer.count {
            switch buffer[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < buffer.count else { throw fail(.unexpectedEnd) }
        switch buffer[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail(.unexpectedByte(buffer[index]))
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= buffer.count else { throw fail(.unexpectedEnd) }
        let start = literal.utf8Start
        for i in 0..<count where buffer[index + i] != start[i] {
            index += i
            throw fail(.unexpectedByte(buffer[index]))
        }
        index += count
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > maxDepth { throw fail(.tooDeep(limit: maxDepth)) }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        var object = JSONObject()
        skipWhitespace()
        if index < buffer.count, buffer[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard index < buffer.count else { throw fail(.unexpectedEnd) }
            guard buffer[index] == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(buffer[index])) }
            let key = try parseString()
            skipWhitespace()
            guard index < buffer.count else { throw fail(.unexpectedEnd) }
            guard buffer[index] == UInt8(ascii: ":") else { throw fail(.unexpectedByte(buffer[index])) }
            index += 1
            skipWhitespace()
            object[key] = try parseValue()
            skipWhitespace()
            guard index < buffer.count else { throw fail(.unexpectedEnd) }
            switch buffer[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(object)
            default: throw fail(.unexpectedByte(buffer[index]))
            }
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if index < buffer.count, buffer[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue())
            skipWhitespace()
            guard index < buffer.count else { throw fail(.unexpectedEnd) }
            switch buffer[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(array)
            default: throw fail(.unexpectedByte(buffer[index]))
            }
        }
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes, only validated UTF-8 between the quotes.
        while index < buffer.count {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buffer[start..<index])
                guard let s = String(validating: slice, as: UTF8.self) else {
                    index = start
                    throw fail(.invalidUTF8)
                }
                index += 1
                return s
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail(.unexpectedByte(byte)) }
            index += 1
        }
        var bytes = Array(buffer[start..<index])
        while index < buffer.count {
            let byte = buffer[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    index = start
                    throw fail(.invalidUTF8)
                }
                return s
            case UInt8(ascii: "\\"):
                index += 1
                try parseEscape(into: &bytes)
            case 0..<0x20:
                throw fail(.unexpectedByte(byte))
            default:
                bytes.append(byte)
                index += 1
            }
        }
        throw fail(.unexpectedEnd)
    }

    private mutating func parseEscape(into bytes: inout [UInt8]) throws(JSONParseError) {
        guard index < buffer.count else { throw fail(.unexpectedEnd) }
        let c = buffer[index]
        index += 1
        switch c {
        case UInt8(ascii: "\""): bytes.append(0x22)
        case UInt8(ascii: "\\"): bytes.append(0x5C)
        case UInt8(ascii: "/"): bytes.append(0x2F)
        case UInt8(ascii: "b"): bytes.append(0x08)
        case UInt8(ascii: "f"): bytes.append(0x0C)
        case UInt8(ascii: "n"): bytes.append(0x0A)
        case UInt8(ascii: "r"): bytes.append(0x0D)
        case UInt8(ascii: "t"): bytes.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard index + 1 < buffer.count, buffer[index] == UInt8(ascii: "\\"),
                    buffer[index + 1] == UInt8(ascii: "u")
                else { throw fail(.invalidEscape) }
                index += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail(.invalidEscape) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw fail(.invalidEscape)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw fail(.invalidEscape) }
            bytes.append(contentsOf: String(Character(unicode)).utf8)
        default:
            index -= 1
            throw fail(.invalidEscape)
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= buffer.count else { throw fail(.unexpectedEnd) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = buffer[index]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail(.invalidEscape)
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var isInteger = true
        if buffer[index] == UInt8(ascii: "-") { index += 1 }
        guard index < buffer.count else { throw fail(.unexpectedEnd) }
        if buffer[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(buffer[index]) {
            skipDigits()
        } else {
            throw fail(.invalidNumber)
        }
        if index < buffer.count, buffer[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard skipDigits() > 0 else { throw fail(.invalidNumber) }
        }
        if index < buffer.count, buffer[index] == UInt8(ascii: "e") || buffer[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < buffer.count, buffer[index] == UInt8(ascii: "+") || buffer[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard skipDigits() > 0 else { throw fail(.invalidNumber) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
        if isInteger, let i = Int64(text) { return .int(i) }
        guard let d = Double(text) else { throw fail(.invalidNumber) }
        return .double(d)
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = index
        while index < buffer.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(buffer[index]) { index += 1 }
        return index - start
    }
}
