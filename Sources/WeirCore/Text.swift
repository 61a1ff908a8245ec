import Glibc

/// The few text helpers Weir used from Foundation, with the same results, so that no module the
/// `weir` binary links needs Foundation (and its ICU data).
extension StringProtocol {
    /// The text without white space or line breaks at either end: Unicode White_Space and the
    /// zero width space, what Foundation's `trimmingCharacters(in: .whitespacesAndNewlines)` removes.
    public func trimmingWhitespaceAndNewlines() -> String {
        trimmingScalars { $0.properties.isWhitespace || $0 == "\u{200B}" }
    }

    /// The text without spaces and tabs at either end: Unicode category Zs, the tab and the zero
    /// width space, what Foundation's `trimmingCharacters(in: .whitespaces)` removes (line breaks stay).
    public func trimmingSpaces() -> String {
        trimmingScalars { $0 == "\t" || $0 == "\u{200B}" || $0.properties.generalCategory == .spaceSeparator }
    }

    /// The text without the Unicode scalars that `remove` selects at either end.
    public func trimmingScalars(_ remove: (Unicode.Scalar) -> Bool) -> String {
        var scalars = Substring(self).unicodeScalars
        while let last = scalars.last, remove(last) { scalars.removeLast() }
        while let first = scalars.first, remove(first) { scalars.removeFirst() }
        return String(scalars)
    }
}

/// `printf`-style formatting of numbers through the C library, for the fixed-point and
/// hexadecimal forms Weir prints (`%.1f`, `%02x`); Foundation's `String(format:)` did the same.
public func cFormat(_ format: String, _ arguments: any CVarArg...) -> String {
    var buffer = [CChar](repeating: 0, count: 128)
    let length = Int(withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) })
    if length >= buffer.count {
        buffer = [CChar](repeating: 0, count: length + 1)
        _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Writes `text` to standard error at once (unbuffered, as `FileHandle.standardError` did).
public func writeToStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = write(2, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// `byte` as two lowercase hexadecimal digits (`%02x`).
public func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
}
