import Glibc
import Testing
import WeirCore

@testable import WeirRules

@Suite struct SQLFunctionTests {
    @Test func strings() throws {
        #expect(try eval("lower('AbC')") == "abc")
        #expect(try eval("upper('AbC')") == "ABC")
        #expect(try eval("concat('a', 1, null, true)") == "a1true")
        #expect(try eval("'a' || 2") == "a2")
        #expect(try eval("length('héllo')") == 5)
        #expect(try eval("length(a)", ["a": [1, 2, 3]]) == 3)
        #expect(try eval("substr('hello', 2)") == "ello")
        #expect(try eval("substring('hello', 2, 3)") == "ell")
        #expect(try eval("substr('hello', 10)") == "")
        #expect(try eval("replace('a-b-c', '-', '+')") == "a+b+c")
        #expect(try eval("trim('  x ')") == "x")
        #expect(try eval("ltrim('  x ')") == "x ")
        #expect(try eval("rtrim('  x ')") == "  x")
        #expect(try eval("startswith('sensor-1', 'sensor')") == true)
        #expect(try eval("endswith('sensor-1', '-2')") == false)
        #expect(try eval("regex_match('dev-0042', '^dev-[0-9]+$')") == true)
        #expect(try eval("regex_match('x', '^dev')") == false)
        #expect(try eval("regex_replace('a1b22', '[0-9]+', '#')") == "a#b#")
        #expect(try eval("lower(null)") == .null)
        #expect(evalError("length(3)") == "length needs a string or array, got int")
        #expect(evalError("upper(1)") == "upper needs a string, got int")
    }

    /// Start and length from the payload, at the ends of the 64-bit range: no overflow trap.
    @Test func substrWithExtremeStartOrLengthFromThePayloadDoesNotTrap() throws {
        let payload: JSONValue = ["s": "hello", "min": .int(.min), "max": .int(.max), "big": .int(.max - 1)]
        #expect(try eval("substr(s, min)", payload) == "hello")
        #expect(try eval("substr(s, max)", payload) == "")
        #expect(try eval("substr(s, 2, max)", payload) == "ello")
        #expect(try eval("substr(s, big, big)", payload) == "")
        #expect(try eval("substr(s, min, max)", payload) == "hello")
        #expect(try eval("substr(s, min, 2)", payload) == "he")
        #expect(try eval("substr(s, 0, 0)", payload) == "")
        #expect(evalError("substr(s, 1, min)", payload) == "substr length must not be negative")
    }

    @Test func math() throws {
        #expect(try eval("abs(-3)") == 3)
        #expect(try eval("abs(-2.5)") == 2.5)
        #expect(try eval("round(2.5)") == 3)
        #expect(try eval("round(-2.5)") == -3)
        #expect(try eval("round(3.14159, 2)") == 3.14)
        #expect(try eval("floor(2.7)") == 2)
        #expect(try eval("ceil(2.1)") == 3)
        #expect(try eval("sqrt(16)") == 4.0)
        #expect(try eval("pow(2, 10)") == 1024.0)
        #expect(try eval("power(2, 0.5)") == .double(2.0.squareRoot()))
        #expect(try eval("mod(10, 3)") == 1)
        #expect(try eval("sign(-4.2)") == -1)
        #expect(try eval("ln(1)") == 0.0)
        #expect(try eval("log10(1000)") == 3.0)
        #expect(try eval("exp(0)") == 1.0)
        #expect(evalError("sqrt(-1)") == "sqrt of a negative number")
        #expect(evalError("abs('x')") == "abs needs a number, got string")
    }

    @Test func nullHandling() throws {
        #expect(try eval("coalesce(missing, null, 4, 5)") == 4)
        #expect(try eval("coalesce(missing)") == .null)
        #expect(try eval("nullif(1, 1)") == .null)
        #expect(try eval("nullif(1, 2)") == 1)
    }

    @Test func conversions() throws {
        #expect(try eval("int('42')") == 42)
        #expect(try eval("int(3.9)") == 3)
        #expect(try eval("int(-3.9)") == -3)
        #expect(try eval("int(true)") == 1)
        #expect(try eval("float('1.5')") == 1.5)
        #expect(try eval("float(2)") == 2.0)
        #expect(try eval("string(12)") == "12")
        #expect(try eval("str(1.5)") == "1.5")
        #expect(try eval("bool('true')") == true)
        #expect(try eval("bool(0)") == false)
        #expect(try eval("cast('7' AS int) + 1") == 8)
        #expect(try eval("cast(7 AS string)") == "7")
        #expect(try eval("cast(a AS float)", ["a": "2.5"]) == 2.5)
        #expect(evalError("int('abc')") == "cannot convert 'abc' to int")
        #expect(evalError("bool('maybe')") == "cannot convert 'maybe' to bool")
        #expect(evalError("int(a)", ["a": [1]]) == "cannot convert array to int")
    }

    @Test func newuuidIsRandomV4() throws {
        guard case .string(let a) = try eval("newuuid()"), case .string(let b) = try eval("newuuid()") else {
            Issue.record("newuuid did not return a string")
            return
        }
        #expect(a != b)
        #expect(a.count == 36)
        #expect(Array(a)[14] == "4")
    }
}
