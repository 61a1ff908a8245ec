import WeirCore
import WeirZstd

@testable import WeirStore

/// Stored invocation-journal entries (`JournalFormat.decode`: a zstd frame of JSON with a format
/// version), read at every start to resume interrupted calls. Inputs that start with the zstd
/// magic number are decoded as they are; others are the JSON inside, compressed first. Property: a
/// decoded entry re-encodes to a fixed point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let value = bytes.starts(with: zstdMagic) ? bytes : try? Zstd.compress(bytes, level: 1),
        let entry = try? JournalFormat.decode(value)
    else { return 0 }
    guard let encoded = try? JournalFormat.encode(entry), let again = try? JournalFormat.decode(encoded) else {
        fatalError("fuzz property violated: a decoded journal entry does not encode and decode")
    }
    require((try? JournalFormat.encode(again)) == encoded, "encode(decode(encode(e))) != encode(e)")
    return 0
}

private let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
