import CZstd

/// A zstd dictionary: trained on samples of the data it will compress, it lets small inputs (a
/// batch of a few events) compress like large ones, because the common structure (keys, topic
/// prefixes, CloudEvents boilerplate) is in the dictionary rather than in every frame.
///
/// Only `weir-bench`'s dictionary study uses it today (no upstream compresses with a dictionary yet). It
/// stays here rather than in a bench helper because it calls zstd's C API, which only this module may import.
public struct ZstdDictionary: Sendable, Equatable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Trains a dictionary of at most `capacity` bytes on `samples` (ZDICT's default trainer).
    public static func train(samples: [[UInt8]], capacity: Int = 16 << 10) throws -> ZstdDictionary {
        let joined = samples.flatMap { $0 }
        let sizes = samples.map { $0.count }
        var buffer = [UInt8](repeating: 0, count: capacity)
        let size = buffer.withUnsafeMutableBytes { out in
            joined.withUnsafeBytes { source in
                ZDICT_trainFromBuffer(out.baseAddress, capacity, source.baseAddress, sizes, UInt32(sizes.count))
            }
        }
        if ZDICT_isError(size) != 0 {
            throw ZstdError(operation: "ZDICT_trainFromBuffer", message: String(cString: ZDICT_getErrorName(size)))
        }
        return ZstdDictionary(bytes: Array(buffer[0..<size]))
    }

    /// The id zstd writes into frames compressed with this dictionary (0 for a raw-content one).
    public var id: UInt32 { bytes.withUnsafeBytes { ZDICT_getDictID($0.baseAddress, $0.count) } }

    /// Compresses `input` with this dictionary; the frame records the dictionary id.
    public func compress(_ input: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        guard let context = ZSTD_createCCtx() else { throw ZstdError(operation: "ZSTD_createCCtx", message: "out of memory") }
        defer { ZSTD_freeCCtx(context) }
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = try output.withUnsafeMutableBytes { out in
            try input.withUnsafeBytes { source in
                try bytes.withUnsafeBytes { dictionary in
                    try zstd(
                        "ZSTD_compress_usingDict",
                        ZSTD_compress_usingDict(
                            context, out.baseAddress, bound, source.baseAddress, source.count, dictionary.baseAddress, dictionary.count,
                            level))
                }
            }
        }
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses a frame made with this dictionary, refusing more than `maxSize` bytes.
    public func decompress(_ frame: [UInt8], maxSize: Int) throws -> [UInt8] {
        let size = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(maxSize) else {
            throw ZstdError(operation: "ZSTD_getFrameContentSize", message: "unknown size or larger than \(maxSize) bytes")
        }
        guard let context = ZSTD_createDCtx() else { throw ZstdError(operation: "ZSTD_createDCtx", message: "out of memory") }
        defer { ZSTD_freeDCtx(context) }
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = try output.withUnsafeMutableBytes { out in
            try frame.withUnsafeBytes { source in
                try bytes.withUnsafeBytes { dictionary in
                    try zstd(
                        "ZSTD_decompress_usingDict",
                        ZSTD_decompress_usingDict(
                            context, out.baseAddress, out.count, source.baseAddress, source.count, dictionary.baseAddress, dictionary.count)
                    )
                }
            }
        }
        output.removeSubrange(written...)
        return output
    }

    /// The dictionary id a frame says it needs (0: none).
    public static func id(ofFrame frame: [UInt8]) -> UInt32 {
        frame.withUnsafeBytes { ZSTD_getDictID_fromFrame($0.baseAddress, $0.count) }
    }
}
