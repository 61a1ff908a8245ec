import Glibc
import Testing
import WeirCore

@testable import WeirRules

/// Trigonometry, bits, strings, objects, arrays and types: each against Swift's or libm's own
/// result on random inputs, and their nulls and errors.
@Suite struct SQLMoreFunctionTests {
    @Test func trigonometryMatchesLibm() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let x = Double.random(in: -10...10, using: &generator)
            let y = Double.random(in: -10...10, using: &generator)
            let unit = Double.random(in: -1...1, using: &generator)
            let p: JSONValue = ["x": .double(x), "y": .double(y), "u": .double(unit)]
            #expect(try eval("sin(x)", p) == .double(Glibc.sin(x)))
            #expect(try eval("cos(x)", p) == .double(Glibc.cos(x)))
            #expect(try eval("tan(x)", p) == .double(Glibc.tan(x)))
            #expect(try eval("asin(u)", p) == .double(Glibc.asin(unit)))
            #expect(try eval("acos(u)", p) == .double(Glibc.acos(unit)))
            #expect(try eval("atan(x)", p) == .double(Glibc.atan(x)))
            #expect(try eval("atan2(y, x)", p) == .double(Glibc.atan2(y, x)))
            #expect(try eval("sinh(x)", p) == .double(Glibc.sinh(x)))
            #expect(try eval("cosh(x)", p) == .double(Glibc.cosh(x)))
            #expect(try eval("tanh(x)", p) == .double(Glibc.tanh(x)))
            #expect(try eval("cot(x)", p) == .double(1 / Glibc.tan(x)))
            #expect(try eval("degrees(x)", p) == .double(x * 180 / Double.pi))
            #expect(try eval("radians(x)", p) == .double(x * Double.pi / 180))
        }
        #expect(try eval("sin(0)") == 0.0)
        #expect(try eval("pi()") == .double(Double.pi))
        #expect(try eval("trunc(-2.7)") == -2)
        #expect(try eval("trunc(2.789, 2)") == 2.78)
        #expect(try eval("trunc(7)") == 7)
        #expect(try eval("sin(null)") == .null)
        #expect(try eval("atan2(1, null)") == .null)
        #expect(evalError("asin(2)") == "asin of a number outside [-1, 1]")
        #expect(evalError("cos('x')") == "cos needs a number, got string")
        guard case .double(let r) = try eval("rand()") else {
            Issue.record("rand() is not a float")
            return
        }
        #expect(r >= 0 && r < 1)
    }

    @Test func bitOperationsMatchSwift() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let a = Int64.random(in: .min ... .max, using: &generator)
            let b = Int64.random(in: .min ... .max, using: &generator)
            let n = Int64.random(in: 0...63, using: &generator)
            let p: JSONValue = ["a": .int(a), "b": .int(b), "n": .int(n)]
            #expect(try eval("bitand(a, b)", p) == .int(a & b))
            #expect(try eval("bitor(a, b)", p) == .int(a | b))
            #expect(try eval("bitxor(a, b)", p) == .int(a ^ b))
            #expect(try eval("bitnot(a)", p) == .int(~a))
            #expect(try eval("bitshiftleft(a, n)", p) == .int(a << n))
            #expect(try eval("bitshiftright(a, n)", p) == .int(a >> n))
        }
        #expect(try eval("bitand(null, 1)") == .null)
        #expect(evalError("bitand(1.5, 1)") == "bitand needs integers, got float")
        #expect(evalError("bitshiftleft(1, 64)") == "bitshiftleft needs a shift between 0 and 63, got 64")
    }

    @Test func padAndSearch() throws {
        #expect(try eval("lpad('7', 2)") == "  7")
        #expect(try eval("rpad('7', 3, '0')") == "7000")
        #expect(try eval("lpad('ab', 3, 'xy')") == "xyxab")
        #expect(try eval("lpad('abc', -1)") == "abc")
        // A long pad string is not repeated count times before being cut.
        #expect(try eval("length(rpad('', 65536, p))", ["p": .string(String(repeating: "x", count: 100_000))]) == 65536)
        #expect(try eval("lpad(null, 2)") == .null)
        #expect(evalError("lpad('a', 100000)") == "lpad adds at most 65536 characters, got 100000")
        #expect(evalError("rpad('a', 1, '')") == "rpad needs a non-empty pad string")
        #expect(try eval("indexof('héllo wörld', 'wö')") == 6)
        #expect(try eval("indexOf('abc', 'z')") == -1)
        #expect(try eval("reverse('abc')") == "cba")
        #expect(try eval("chr(65)") == "A")
        #expect(try eval("split_value('a/b/c', '/', 1)") == "b")
        #expect(try eval("split_value('a/b/c', '/', 5)") == .null)
        #expect(try eval("regexp_matches('dev-1', '^dev')") == true)
        #expect(evalError("chr(-1)") == "chr needs a Unicode code point, got -1")
    }

    @Test func objectsAndArrays() throws {
        let p: JSONValue = ["o": ["k": 1, "n": nil], "a": [3, "x", 1, nil, 2.5], "nums": [3, 1, 2.5]]
        #expect(try eval("get(o, 'k')", p) == 1)
        #expect(try eval("get(o, 'missing')", p) == .null)
        #expect(try eval("get(a, 1)", p) == "x")
        #expect(try eval("get(a, -1)", p) == 2.5)
        #expect(try eval("get(a, 9)", p) == .null)
        #expect(try eval("keys(o)", p) == ["k", "n"])
        #expect(try eval("array_length(a)", p) == 5)
        #expect(try eval("cardinality(a)", p) == 5)
        #expect(try eval("array_contains(a, 1.0)", p) == true)
        #expect(try eval("array_contains(a, 'y')", p) == false)
        #expect(try eval("array_position(a, 'x')", p) == 1)
        #expect(try eval("array_position(a, 'y')", p) == -1)
        #expect(try eval("array_join(a, '-')", p) == "3-x-1-2.5")
        #expect(try eval("array_min(nums)", p) == 1)
        #expect(try eval("array_max(nums)", p) == 3)
        #expect(try eval("array_max(e)", ["e": []]) == .null)
        #expect(try eval("get(null, 1)") == .null)
        #expect(evalError("get(o, 1)", p) == "get on an object needs a string key, got int")
        #expect(evalError("get('s', 1)") == "get needs an object or an array, got string")
        #expect(evalError("array_length(o)", p) == "array_length needs an array, got object")
        #expect(evalError("array_max(a)", p) == "cannot compare string with int")
    }

    @Test func nullsUndefinedAndTypes() throws {
        let p: JSONValue = ["n": nil, "x": 1, "o": ["k": nil], "f": .double(Double.nan)]
        #expect(try eval("isnull(n)", p) == true)
        #expect(try eval("isnull(missing)", p) == true)
        #expect(try eval("isnull(x)", p) == false)
        #expect(try eval("isundefined(n)", p) == false)
        #expect(try eval("isundefined(missing)", p) == true)
        #expect(try eval("isundefined(o.k)", p) == false)
        #expect(try eval("isundefined(o.j)", p) == true)
        #expect(try eval("isundefined(x + 1)", p) == false)
        #expect(try eval("typeof(x)", p) == "int")
        #expect(try eval("typeof(1.5)") == "float")
        #expect(try eval("typeof(n)", p) == "null")
        #expect(try eval("typeof(missing)", p) == "undefined")
        #expect(try eval("typeof(unhex('00'))") == "bytes")
        #expect(try eval("nanvl(f, 0)", p) == 0)
        #expect(try eval("nanvl(x, 0)", p) == 1)
        #expect(try eval("nanvl(n, 0)", p) == .null)
        #expect(try eval("nanvl(pow(-1, 0.5), -1)") == -1)
    }

    /// Every function that propagates null does so for a null in any argument position.
    @Test func nullInAnyArgumentIsNull() throws {
        let calls = [
            "md5(?)", "encode(?, 'hex')", "decode(?, 'hex')", "hex(?)", "unhex(?)", "int32(?, 0)", "float64(?, 0, 'le')", "sin(?)",
            "atan2(?, 1)", "atan2(1, ?)", "bitor(?, 1)", "bitnot(?)", "bitshiftright(1, ?)", "lpad(?, 1)", "rpad('a', ?)",
            "indexof(?, 'a')", "reverse(?)", "chr(?)", "split_value('a', ?, 0)", "get(?, 0)", "keys(?)", "array_length(?)",
            "array_contains(?, 1)", "array_join(?)", "array_min(?)", "format_time(?, 'yyyy')", "hour(?)", "trunc(?)",
        ]
        for call in calls {
            #expect(try eval(call.replacing("?", with: "null")) == .null, "\(call)")
            #expect(try eval(call.replacing("?", with: "missing")) == .null, "\(call)")
        }
    }
}
