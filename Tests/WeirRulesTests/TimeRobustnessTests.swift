import Glibc
import Testing
import WeirCore

@testable import WeirRules

/// Random and damaged input for the time code: TZif files with bytes changed or cut, random
/// patterns and texts. Nothing may trap; what parses must answer.
@Suite struct TimeRobustnessTests {
    static func zoneFile(_ name: String) throws -> [UInt8] {
        let fd = open("/usr/share/zoneinfo/" + name, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1 << 16)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return Array(bytes.prefix(max(count, 0)))
    }

    @Test func damagedTZifFilesNeverTrap() throws {
        var generator = SystemRandomNumberGenerator()
        for name in ["Europe/Berlin", "America/New_York", "Australia/Sydney"] {
            let original = try Self.zoneFile(name)
            #expect(TZifReader.parse(original, name: name) != nil)
            for _ in 0..<2000 {
                var bytes = original
                if Bool.random(using: &generator) {
                    bytes.removeLast(Int.random(in: 0..<bytes.count, using: &generator))
                }
                for _ in 0..<Int.random(in: 1...8, using: &generator) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                guard let rules = TZifReader.parse(bytes, name: name) else { continue }
                for seconds: Int64 in [-62_167_219_200, -1, 0, 1_700_000_000, 4_102_444_800, 253_402_300_799] {
                    _ = rules.localType(at: seconds)
                    _ = rules.utcSeconds(local: seconds)
                }
            }
        }
    }

    @Test func randomPatternsAndTextsNeverTrap() throws {
        var generator = SystemRandomNumberGenerator()
        let letters = Array("yMdDHhmsSaEZXz'-:. T0123456789+".utf8).map { Character(UnicodeScalar($0)) }
        let berlin = try TimeZoneCache.zone("Europe/Berlin").get()
        for _ in 0..<5000 {
            let pattern = String((0..<Int.random(in: 0...30, using: &generator)).map { _ in letters.randomElement(using: &generator)! })
            let text = String((0..<Int.random(in: 0...30, using: &generator)).map { _ in letters.randomElement(using: &generator)! })
            guard let compiled = try? TimePattern(pattern) else { continue }
            let millis = Int64.random(in: -62_167_219_200_000...253_402_300_799_999, using: &generator)
            let formatted = compiled.format(millis: millis, zone: berlin)
            _ = try? compiled.parse(text, zone: berlin)
            _ = try? compiled.parse(formatted, zone: berlin)
        }
        let long = try TimePattern(String(repeating: "y", count: 40) + "MM")
        #expect(throws: EvaluationError.self) { try long.parse(String(repeating: "9", count: 42), zone: .utc) }
    }

    @Test func posixRulesFromRandomTextNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJ<>+-0123456789,.:/MJ".utf8).map { Character(UnicodeScalar($0)) }
        for _ in 0..<5000 {
            let text = String((0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            guard let rule = PosixTimeZone(text) else { continue }
            _ = rule.localType(at: Int64.random(in: -62_167_219_200...253_402_300_799, using: &generator))
        }
    }
}
