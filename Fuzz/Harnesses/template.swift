import WeirCore
import WeirRules

/// Action templates: `Template(_:)` (`${column}` placeholders), `render` (log/call text) and
/// `renderTopic` (publish and emit topics, with its refusal of `+`, `#`, NUL and a leading `$`).
/// Input: the template on the first line; the rest, when it is a JSON object, is the row (else a
/// fixed row). Properties: a template without placeholders renders to its own text; a rendered topic
/// starts with the byte `$` only when the template's text does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let newline = bytes.firstIndex(of: 0x0A) ?? bytes.count
    guard let template = try? Template(String(decoding: bytes[..<newline], as: UTF8.self)) else { return 0 }
    var row = fixedRow
    if newline < bytes.count, case .object(let object)? = try? JSONParser.parse(Array(bytes[(newline + 1)...])) { row = object }
    let extra = ["gateway_id": "gw-01", "rule": "r"]
    let text = try? template.render(row, extra: extra)
    if template.columns.isEmpty { require(text == template.text, "no placeholders, yet rendered '\(text ?? "nil")'") }
    if let topic = try? template.renderTopic(row, extra: extra) {
        require(!topic.isEmpty, "empty topic rendered")
        // Bytes, as the broker sees them: a `$` followed by a combining mark is not the Character "$".
        require(topic.utf8.first != 0x24 || template.text.utf8.first == 0x24, "topic '\(topic)' starts with $, its template does not")
    }
    return 0
}

private let fixedRow: JSONObject = [
    "device": "d1", "site": "site-1", "temp": 91.5, "n": 3, "none": nil, "plus": "a+b", "hash": "#", "nul": "a\u{0}b",
    "dollar": "$SYS/x", "slash": "a/b", "obj": ["k": [1, 2]], "empty": "",
]
