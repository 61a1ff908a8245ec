import WeirCore
import WeirZstd

@testable import WeirStore

/// Stored dead letters (`DeadLetters.decode`: a zstd frame of JSON at `storedMaxDepth`, then the
/// letter's fields) and what `weir dlq list|show` does with one (`json`). Inputs that start with
/// the zstd magic number are decoded as they are (hostile frames); any other input is taken as the
/// JSON inside and compressed first, so mutations reach the fields. Property: a letter's `json`
/// decodes back to the same letter.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let value = storedValue(fuzzBytes(data, size)), let letter = try? DeadLetters.decode(value) else { return 0 }
    let json = letter.json
    _ = JSONWriter.bytes(json)
    if let again = try? DeadLetter(decoding: json) {
        require(again == letter, "json of a dead letter decodes to another letter")
    } else {
        fatalError("fuzz property violated: json of a dead letter does not decode")
    }
    return 0
}

private let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

/// The input as a stored value: a zstd frame as is, anything else compressed (level 1, for speed).
private func storedValue(_ bytes: [UInt8]) -> [UInt8]? {
    bytes.starts(with: zstdMagic) ? bytes : try? Zstd.compress(bytes, level: 1)
}
