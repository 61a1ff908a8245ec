@testable import WeirRules

/// The rule SQL lexer alone (`Lexer.tokenize`), fast enough to reach odd bytes, quotes and numbers
/// the parser rarely lets through. Properties: tokens are in order, inside the text, and the last
/// one is the end.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let sql = fuzzText(data, size)
    guard let tokens = try? Lexer.tokenize(sql) else { return 0 }
    let length = sql.utf8.count
    require(tokens.last == Token(kind: .end, offset: length), "the last token is not the end")
    for (a, b) in zip(tokens, tokens.dropFirst()) {
        require(a.offset < b.offset && b.offset <= length, "token offsets out of order: \(a) then \(b)")
        _ = a.text
    }
    return 0
}
