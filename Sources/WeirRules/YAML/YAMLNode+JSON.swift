import WeirCore

extension YAMLNode {
    /// The node as a JSON value, typed as YAML 1.2's core schema types plain scalars: `20` is an
    /// integer, `20.5` and `1e3` numbers, `true`/`false` booleans, `null`/`~`/empty null, and
    /// anything else (and every quoted scalar) a string. For payloads and rows written in YAML
    /// (rule test files), so `{ device: d1, temp: 20 }` is the JSON `{"device":"d1","temp":20}`.
    public func json(depth: Int = 0) throws(Diagnostic) -> JSONValue {
        // The composer bounds nesting already; this keeps a hostile alias chain from recursing far.
        guard depth < 256 else { throw error("nested too deeply (256 levels at most)") }
        switch node.kind {
        case .mapping:
            let map = try mapping("a mapping")
            var object = JSONObject()
            for entry in map.entries { object[entry.key] = try entry.value.json(depth: depth + 1) }
            return .object(object)
        case .sequence:
            var items: [JSONValue] = []
            for item in try sequence("a list") { items.append(try item.json(depth: depth + 1)) }
            return .array(items)
        case .scalar:
            if isNull { return .null }
            let text = node.string ?? ""
            guard scalarStyle == .plain else { return .string(text) }
            return Self.plainScalar(text)
        }
    }

    /// A plain scalar's value under the core schema.
    static func plainScalar(_ text: String) -> JSONValue {
        switch text {
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "-.inf", ".nan", ".NaN", ".NAN": return .string(text)  // not JSON numbers
        default: break
        }
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        if !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let value = Int64(text) {
            return .int(value)
        }
        let numberCharacters = Set("0123456789.eE+-")
        if digits.first.map({ $0.isNumber || $0 == "." }) == true, text.allSatisfy(numberCharacters.contains),
            let value = Double(text), value.isFinite
        {
            return .double(value)
        }
        return .string(text)
    }
}
