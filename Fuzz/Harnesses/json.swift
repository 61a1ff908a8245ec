import WeirCore

/// `JSONParser.parse` at both bounds, `defaultMaxDepth` (device payloads) and `storedMaxDepth`
/// (what Weir stored), and `JSONWriter`. Properties: the two bounds agree except on depth; a parsed
/// value written and parsed again is the same value (non-finite doubles excepted: they are written
/// as null), and writing is a fixed point after one round.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let payload = Result { () throws(JSONParseError) in try JSONParser.parse(bytes) }
    let stored = Result { () throws(JSONParseError) in try JSONParser.parse(bytes, maxDepth: JSONParser.storedMaxDepth) }
    switch (payload, stored) {
    case (.success(let a), .success(let b)):
        require(a == b, "the two depth bounds parsed different values")
    case (.success, .failure(let e)):
        require(false, "accepted at depth 128 but refused at 512: \(e)")
    case (.failure(let e), .success):
        require(e.reason == .tooDeep(limit: JSONParser.defaultMaxDepth), "refused at depth 128 (\(e)) but accepted at 512")
    case (.failure(let a), .failure(let b)):
        guard a.reason != .tooDeep(limit: JSONParser.defaultMaxDepth) else { break }
        require(a == b, "the two depth bounds failed differently: \(a) / \(b)")
    }
    guard case .success(let value) = stored else { return 0 }
    let written = JSONWriter.bytes(value)
    let reparsed: JSONValue
    do {
        reparsed = try JSONParser.parse(written, maxDepth: JSONParser.storedMaxDepth)
    } catch {
        fatalError("fuzz property violated: written JSON does not parse (\(error)): \(String(decoding: written, as: UTF8.self))")
    }
    if allFinite(value) { require(reparsed == value, "parse(write(v)) != v") }
    require(JSONWriter.bytes(reparsed) == written, "write(parse(write(v))) != write(v)")
    return 0
}

/// Whether every double in `value` is finite (JSON has no infinity: the writer turns it into null).
private func allFinite(_ value: JSONValue) -> Bool {
    switch value {
    case .double(let d): return d.isFinite
    case .array(let a): return a.allSatisfy(allFinite)
    case .object(let o): return o.values.allSatisfy(allFinite)
    default: return true
    }
}
