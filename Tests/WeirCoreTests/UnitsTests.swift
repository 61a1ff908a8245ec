import Testing
import WeirCore

@Suite struct UnitsTests {
    @Test func durations() {
        #expect(parseDuration("500ms") == .milliseconds(500))
        #expect(parseDuration("10s") == .seconds(10))
        #expect(parseDuration("1m") == .seconds(60))
        #expect(parseDuration("2h") == .seconds(7200))
        #expect(parseDuration("7d") == .seconds(7 * 86400))
        #expect(parseDuration("1.5s") == .milliseconds(1500))
        #expect(parseDuration("10") == nil)
        #expect(parseDuration("-1s") == nil)
        #expect(parseDuration("xs") == nil)
        #expect(parseDuration("36500d") == .seconds(36_500 * 86_400))
        for text in ["36501d", "infs", "infd", "1e300s", "nanms", "9223372036854775807d"] {
            #expect(parseDuration(text) == nil, "\(text)")
        }
    }

    @Test func sizes() {
        #expect(parseByteSize("256KiB") == 262_144)
        #expect(parseByteSize("1GiB") == 1_073_741_824)
        #expect(parseByteSize("1MB") == 1_000_000)
        #expect(parseByteSize("512") == 512)
        #expect(parseByteSize("12B") == 12)
        #expect(parseByteSize("lots") == nil)
        #expect(parseByteSize("1048576GiB") == 1 << 50)
        for text in ["infMiB", "1e300GiB", "1048577GiB", "9223372036854775807", "nanKB", "-1"] {
            #expect(parseByteSize(text) == nil, "\(text)")
        }
    }
}
