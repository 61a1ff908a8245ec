import Testing
import WeirCore

@Suite struct JSONParserTests {
    @Test func parsesScalarsAndKeepsIntegers() throws {
        let value = try JSONParser.parse(#"{"a":1,"b":-2.5,"c":"x","d":true,"e":null,"f":[1,2],"g":1e3,"h":9223372036854775807}"#)
        #expect(value["a"] == .int(1))
        #expect(value["b"] == .double(-2.5))
        #expect(value["c"] == .string("x"))
        #expect(value["d"] == .bool(true))
        #expect(value["e"] == .null)
        #expect(value["f"] == .array([.int(1), .int(2)]))
        #expect(value["g"] == .double(1000))
        #expect(value["h"] == .int(Int64.max))
    }

    @Test func keepsKeyOrderAndLastDuplicate() throws {
        let value = try JSONParser.parse(#"{"z":1,"a":2,"z":3}"#)
        #expect(value.objectValue?.keys == ["z", "a"])
        #expect(value["z"] == .int(3))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONParser.parse(#""a\"b\\c\/\n\u00e9\ud83d\ude00""#)
        #expect(value == .string("a\"b\\c/\né😀"))
    }

    @Test(arguments: [
        ("", JSONParseError.Reason.empty),
        ("   ", .empty),
        ("{", .unexpectedEnd),
        ("[1,]", .unexpectedByte(UInt8(ascii: "]"))),
        ("{\"a\" 1}", .unexpectedByte(UInt8(ascii: "1"))),
        ("01", .trailingData),
        ("1.", .invalidNumber),
        ("-", .unexpectedEnd),
        ("\"\\x\"", .invalidEscape),
        ("\"\\ud800\"", .invalidEscape),
        ("nul", .unexpectedEnd),
        ("{} x", .trailingData),
    ])
    func rejectsMalformedInput(text: String, reason: JSONParseError.Reason) {
        #expect {
            _ = try JSONParser.parse(text)
        } throws: { error in
            (error as? JSONParseError)?.reason == reason
        }
    }

    @Test func rejectsInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0x61, 0xC3, 0x28, 0x22]
        #expect {
            _ = try JSONParser.parse(bytes)
        } throws: { error in
            (error as? JSONParseError)?.reason == .invalidUTF8
        }
    }

    @Test func boundsNestingDepthWithoutRecursingIntoIt() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect {
            _ = try JSONParser.parse(deep)
        } throws: { error in
            (error as? JSONParseError)?.reason == .tooDeep(limit: JSONParser.defaultMaxDepth)
        }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONParser.parse(ok) }
    }

    @Test func writerRoundTrips() throws {
        let text = #"{"s":"q\"\\\n\u0001","i":-3,"d":2.5,"w":3.0,"a":[null,false],"o":{}}"#
        let value = try JSONParser.parse(text)
        #expect(JSONWriter.string(value) == text)
        #expect(try JSONParser.parse(JSONWriter.bytes(value)) == value)
        #expect(JSONWriter.string(.double(.nan)) == "null")
    }
}
