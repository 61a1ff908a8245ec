import CZstd

/// A zstd call that failed, naming the call and zstd's own explanation.
public struct ZstdError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    public var description: String { "\(operation) failed: \(message)" }
}

/// The one funnel for zstd return codes: sizes that are error codes become thrown errors.
@inline(__always)
func zstd(_ operation: StaticString, _ result: Int) throws(ZstdError) -> Int {
    if ZSTD_isError(result) != 0 {
        throw ZstdError(operation: "\(operation)", message: String(cString: ZSTD_getErrorName(result)))
    }
    return result
}

/// One-shot zstd compression and bounded decompression.
///
/// These calls are CPU-bound: callers with large buffers run them off the cooperative pool.
public enum Zstd {
    public static func compress(_ input: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = try output.withUnsafeMutableBytes { out in
            try input.withUnsafeBytes { source in
                try zstd("ZSTD_compress", ZSTD_compress(out.baseAddress, bound, source.baseAddress, source.count, level))
            }
        }
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses one or more frames, refusing to produce more than `maxSize` bytes so a
    /// hostile frame cannot exhaust memory. Works for frames without a recorded content size.
    public static func decompress(_ frame: [UInt8], maxSize: Int) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else { throw ZstdError(operation: "ZSTD_createDStream", message: "out of memory") }
        defer { ZSTD_freeDStream(stream) }
        _ = try zstd("ZSTD_initDStream", ZSTD_initDStream(stream))
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        var lastResult = 0
        try frame.withUnsafeBytes { source in
            var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            repeat {
                let produced = try chunk.withUnsafeMutableBytes { out -> Int in
                    var buffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    lastResult = try zstd("ZSTD_decompressStream", ZSTD_decompressStream(stream, &buffer, &input))
                    return buffer.pos
                }
                guard output.count + produced <= maxSize else {
                    throw ZstdError(operation: "ZSTD_decompressStream", message: "output exceeds the limit of \(maxSize) bytes")
                }
                output.append(contentsOf: chunk[0..<produced])
                if produced == 0 && input.pos == input.size { break }
            } while input.pos < input.size || lastResult != 0
        }
        guard lastResult == 0 else { throw ZstdError(operation: "ZSTD_decompressStream", message: "truncated frame") }
        return output
    }
}
