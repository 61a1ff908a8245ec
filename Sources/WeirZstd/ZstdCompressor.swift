import CZstd

/// A compression context kept across calls, for many small inputs in a row (a window checkpoint
/// writes one frame per changed group): `Zstd.compress` makes and frees a context per call, which
/// costs more than compressing a few hundred bytes. The frames are ordinary zstd frames
/// (`Zstd.decompress` reads them). Not thread-safe: one owner at a time.
public final class ZstdCompressor {
    private let context: OpaquePointer
    private let level: Int32

    /// `level` as zstd's levels; negative levels are zstd's fast modes (no entropy coding of
    /// literals), several times cheaper on small inputs at a few percent of their size.
    public init(level: Int32 = 3) throws(ZstdError) {
        guard let context = ZSTD_createCCtx() else { throw ZstdError(operation: "ZSTD_createCCtx", message: "out of memory") }
        self.context = context
        self.level = level
    }

    deinit { ZSTD_freeCCtx(context) }

    /// One frame holding `input`.
    public func compress(_ input: [UInt8]) throws -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = try output.withUnsafeMutableBytes { out in
            try input.withUnsafeBytes { source in
                try zstd("ZSTD_compressCCtx", ZSTD_compressCCtx(context, out.baseAddress, bound, source.baseAddress, source.count, level))
            }
        }
        output.removeSubrange(written...)
        return output
    }
}
