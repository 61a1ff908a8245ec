import Foundation
import Testing
import WeirCore

@testable import WeirRules

/// Hashes, encodings and the packed-frame decoders, against known vectors and Foundation's codecs.
@Suite struct SQLBytesFunctionTests {
    @Test func hashesMatchTheKnownVectors() throws {
        #expect(try eval("md5('abc')") == "900150983cd24fb0d6963f7d28e17f72")
        #expect(try eval("sha1('abc')") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(try eval("sha224('abc')") == "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7")
        #expect(try eval("sha256('abc')") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            try eval("sha384('abc')")
                == "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        let emptySHA512 =
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        #expect(try eval("sha512('')") == .string(emptySHA512))
        // Bytes hash as they are: the same digest as their text.
        #expect(try eval("sha256(decode('616263', 'hex'))") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try eval("crc32('123456789')") == 0xCBF4_3926)
        #expect(try eval("crc32('')") == 0)
        #expect(try eval("md5(null)") == .null)
        #expect(evalError("md5(1)") == "md5 needs bytes or a string, got int")
    }

    @Test func base64AndHexRoundTripAgainstFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let data = Data(bytes)
            let payload: JSONValue = ["b": .bytes(bytes)]
            #expect(try eval("encode(b, 'base64')", payload) == .string(data.base64EncodedString()))
            #expect(try eval("encode(b, 'hex')", payload) == .string(data.map { String(format: "%02x", $0) }.joined()))
            #expect(try eval("hex(b)", payload) == .string(data.map { String(format: "%02x", $0) }.joined()))
            #expect(try eval("decode(encode(b, 'base64'), 'base64')", payload) == .bytes(bytes))
            #expect(try eval("decode(upper(encode(b, 'hex')), 'HEX')", payload) == .bytes(bytes))
            #expect(Base64.decode(data.base64EncodedString()) == bytes)
        }
    }

    @Test func encodingsOfTextAndValues() throws {
        #expect(try eval("encode('héllo', 'base64')") == "aMOpbGxv")
        #expect(try eval("string(decode('aMOpbGxv', 'base64'))") == "héllo")
        #expect(try eval("cast(decode('aGk', 'base64') AS string)") == "hi")
        #expect(try eval("encode(a, 'base64')", ["a": ["x": 1]]) == "eyJ4IjoxfQ==")
        #expect(try eval("hex(255)") == "ff")
        #expect(try eval("unhex('0x00ff')") == .bytes([0, 255]))
        #expect(try eval("length(unhex('0102'))") == 2)
        #expect(try eval("numbytes('é')") == 2)
        #expect(try eval("encode(null, 'hex')") == .null)
        #expect(try eval("decode(x, null)", ["x": "00"]) == .null)
        #expect(evalError("decode('abc!', 'base64')") == "decode: the text is not base64")
        #expect(evalError("decode('abc', 'hex')") == "decode: the text is not hex")
        #expect(evalError("string(unhex('ff'))") == "cannot convert bytes to string: not UTF-8")
        #expect(evalError("decode('00', e)", ["e": "base32"]) == "decode: unknown encoding 'base32' (expected 'base64' or 'hex')")
        // Bytes in an output row are written as base64: JSON has no bytes.
        #expect(JSONWriter.string(["b": .bytes([1, 2, 3])]) == #"{"b":"AQID"}"#)
    }

    @Test func packedFrameDecodersMatchTheBytesReadDirectly() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let offset = Int.random(in: 0...8, using: &generator)
            let payload: JSONValue = ["b": .bytes(bytes), "o": .int(Int64(offset))]
            func load<T: FixedWidthInteger>(_ type: T.Type, bigEndian: Bool) -> T {
                let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
                return bigEndian ? T(bigEndian: value) : T(littleEndian: value)
            }
            for big in [true, false] {
                let order = big ? "'be'" : "'le'"
                #expect(try eval("uint8(b, o)", payload) == .int(Int64(bytes[offset])))
                #expect(try eval("int8(b, o)", payload) == .int(Int64(Int8(bitPattern: bytes[offset]))))
                #expect(try eval("int16(b, o, \(order))", payload) == .int(Int64(load(Int16.self, bigEndian: big))))
                #expect(try eval("uint16(b, o, \(order))", payload) == .int(Int64(load(UInt16.self, bigEndian: big))))
                #expect(try eval("int32(b, o, \(order))", payload) == .int(Int64(load(Int32.self, bigEndian: big))))
                #expect(try eval("uint32(b, o, \(order))", payload) == .int(Int64(load(UInt32.self, bigEndian: big))))
                #expect(try eval("int64(b, o, \(order))", payload) == .int(load(Int64.self, bigEndian: big)))
                let f32 = Double(Float(bitPattern: load(UInt32.self, bigEndian: big)))
                let f64 = Double(bitPattern: load(UInt64.self, bigEndian: big))
                #expect(sameDouble(try eval("float32(b, o, \(order))", payload), f32))
                #expect(sameDouble(try eval("float64(b, o, \(order))", payload), f64))
            }
            // Big-endian is the default.
            #expect(try eval("uint16(b, o)", payload) == .int(Int64(load(UInt16.self, bigEndian: true))))
        }
    }

    func sameDouble(_ value: JSONValue, _ expected: Double) -> Bool {
        guard case .double(let d) = value else { return false }
        return d.bitPattern == expected.bitPattern || (d.isNaN && expected.isNaN)
    }

    @Test func decoderErrorsAndNulls() throws {
        let frame: JSONValue = ["b": .bytes([0x01, 0x02, 0x03])]
        #expect(try eval("uint16(b, 1)", frame) == 0x0203)
        #expect(try eval("uint16(b, 1, 'LE')", frame) == 0x0302)
        #expect(try eval("uint16(null, 1)") == .null)
        #expect(try eval("uint16(b, missing)", frame) == .null)
        #expect(evalError("uint16(b, 2)", frame) == "uint16 at offset 2 reads past the end of 3 bytes")
        #expect(evalError("uint8(b, -1)", frame) == "uint8 at offset -1 reads past the end of 3 bytes")
        #expect(
            evalError("uint32(b, 0, o)", ["b": .bytes([1, 2, 3, 4]), "o": "middle"])
                == "uint32: unknown byte order 'middle' (expected 'be' or 'le')")
        #expect(evalError("uint8('0102', 0)")?.hasPrefix("uint8 needs bytes") == true)
    }

    @Test(arguments: [
        (#"SELECT encode(a, 'base65') FROM "t""#, "encode: unknown encoding 'base65' (expected 'base64' or 'hex')", 7),
        (#"SELECT a, uint16(a, 0, 'middle') FROM "t""#, "uint16: unknown byte order 'middle' (expected 'be' or 'le')", 10),
        (#"SELECT uint8(a) FROM "t""#, "function 'uint8' takes 2 arguments, got 1", 7),
        (#"SELECT sha256() FROM "t""#, "function 'sha256' takes 1 argument, got 0", 7),
    ])
    func compileErrorsHavePositions(sql: String, message: String, offset: Int) {
        let error = #expect(throws: SQLError.self) { try CompiledQuery(sql: sql) }
        #expect(error?.message == message)
        #expect(error?.offset == offset)
    }
}
