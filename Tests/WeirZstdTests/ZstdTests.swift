import Testing
import WeirZstd

@Suite struct ZstdTests {
    @Test func roundTripCompressesRepetitiveJSON() throws {
        let json = Array(String(repeating: #"{"device":"dev-0042","temp":71.5,"humidity":40.1},"#, count: 500).utf8)
        let frame = try Zstd.compress(json)
        #expect(frame.count * 8 < json.count)
        #expect(try Zstd.decompress(frame, maxSize: json.count) == json)
    }

    @Test func emptyInputRoundTrips() throws {
        #expect(try Zstd.decompress(try Zstd.compress([]), maxSize: 10) == [])
    }

    @Test func garbageIsAnErrorNamingTheCall() {
        #expect {
            try Zstd.decompress(Array("definitely not zstd".utf8), maxSize: 1000)
        } throws: { error in
            (error as? ZstdError)?.operation == "ZSTD_decompressStream"
        }
    }

    @Test func outputLimitStopsDecompressionBombs() throws {
        let frame = try Zstd.compress([UInt8](repeating: 0, count: 1 << 20))
        #expect(frame.count < 1000)
        #expect {
            try Zstd.decompress(frame, maxSize: 64 * 1024)
        } throws: { error in
            (error as? ZstdError)?.message.contains("exceeds the limit") == true
        }
    }

    @Test func truncatedFrameIsDetected() throws {
        let frame = try Zstd.compress(Array(repeating: 7, count: 100_000))
        #expect(throws: ZstdError.self) { try Zstd.decompress(Array(frame.dropLast(4)), maxSize: 1 << 20) }
    }
}
