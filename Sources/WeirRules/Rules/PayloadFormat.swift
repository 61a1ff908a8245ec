import WeirCore

/// How a rule reads its events' payloads (the rule file's `format` key).
public enum PayloadFormat: String, Sendable, CaseIterable {
    /// A JSON document; paths read its fields. The default.
    case json
    /// UTF-8 text: `payload()` is the string, and `value` is the number when the text is one
    /// (`23.5`), else the string.
    case text
    /// Raw bytes: `payload()` is bytes, for `uint16(payload(), 0)` and the other decoders.
    case binary
}

/// Why a payload does not fit a rule's format: a short reason for the metrics label
/// (`weir_events_invalid_total{reason}`), and the message for the log.
public struct PayloadRejection: Error, Sendable, Equatable {
    /// `too_large`, `empty`, `not_json` or `not_text`.
    public var reason: String
    /// What was wrong, for the log and `weir explain`.
    public var message: String
}

/// One event's payload, decoded at most once per format that a candidate rule asks for: JSON
/// rules pay one parse as before, and nothing for the others.
public struct PayloadViews {
    /// The payload as it came.
    public let bytes: [UInt8]
    private var json: Result<JSONValue, PayloadRejection>?
    private var text: Result<JSONValue, PayloadRejection>?

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// What paths read (`payload`) and what `payload()` returns (`payloadValue`, when it differs).
    public mutating func view(_ format: PayloadFormat) -> Result<(payload: JSONValue, payloadValue: JSONValue?), PayloadRejection> {
        switch format {
        case .json:
            if json == nil { json = Self.parseJSON(bytes) }
            return json!.map { ($0, nil) }
        case .text:
            if text == nil { text = Self.decodeText(bytes) }
            return text!.map { text in
                guard case .string(let s) = text else { return (.null, nil) }
                return (.object(["value": Self.number(s) ?? text]), text)
            }
        case .binary:
            return .success((.bytes(bytes), nil))
        }
    }

    /// The evaluation context of `event` for a rule of `format`.
    public mutating func context(_ format: PayloadFormat, _ event: Event) -> Result<EvaluationContext, PayloadRejection> {
        if format == .json, let rejection = Self.contentTypeRejection(event) { return .failure(rejection) }
        return view(format).map { view in
            var context = EvaluationContext(
                payload: view.payload, topic: event.topic, qos: event.qos, timestamp: event.receivedAt, properties: event.properties)
            context.payloadValue = view.payloadValue
            return context
        }
        .mapError { rejection in Self.declared(rejection, event) }
    }

    /// The context of `event` for JSON rules, when every rule reads JSON (no views kept).
    static func jsonContext(_ event: Event) -> Result<EvaluationContext, PayloadRejection> {
        if let rejection = contentTypeRejection(event) { return .failure(rejection) }
        return parseJSON(event.payload).map { payload in
            EvaluationContext(
                payload: payload, topic: event.topic, qos: event.qos, timestamp: event.receivedAt, properties: event.properties)
        }
        .mapError { rejection in declared(rejection, event) }
    }

    /// MQTT 5: a payload its sender says is not JSON is not parsed by JSON rules.
    static func contentTypeRejection(_ event: Event) -> PayloadRejection? {
        guard let properties = event.properties, !properties.declaresJSON else { return nil }
        return PayloadRejection(reason: "content_type", message: "content type '\(properties.contentType ?? "")' is not JSON")
    }

    /// A declared JSON content type that the payload does not match is the sender's error.
    static func declared(_ rejection: PayloadRejection, _ event: Event) -> PayloadRejection {
        guard event.properties?.contentType != nil, rejection.reason == "not_json" || rejection.reason == "empty" else { return rejection }
        return PayloadRejection(reason: "content_type", message: rejection.message)
    }

    static func parseJSON(_ bytes: [UInt8]) -> Result<JSONValue, PayloadRejection> {
        do {
            return .success(try JSONParser.parse(bytes))
        } catch {
            return .failure(PayloadRejection(reason: bytes.isEmpty ? "empty" : "not_json", message: "payload is not valid JSON: \(error)"))
        }
    }

    static func decodeText(_ bytes: [UInt8]) -> Result<JSONValue, PayloadRejection> {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            return .failure(PayloadRejection(reason: "not_text", message: "payload is not UTF-8 text"))
        }
        return .success(.string(s))
    }

    /// The number a plain-number text payload holds ("23.5", " -4\n"), read as JSON reads it.
    static func number(_ s: String) -> JSONValue? {
        guard let first = s.utf8.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }),
            first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39)
        else { return nil }
        guard let value = try? JSONParser.parse(Array(s.utf8)), value.doubleValue != nil else { return nil }
        return value
    }
}

/// One optional value per format, without a dictionary's allocation on the per-event path.
struct PerFormat<Value> {
    private var json: Value?
    private var text: Value?
    private var binary: Value?

    subscript(format: PayloadFormat) -> Value? {
        get {
            switch format {
            case .json: return json
            case .text: return text
            case .binary: return binary
            }
        }
        // In place: a get/set pair would copy the field slots' array on every write.
        _modify {
            switch format {
            case .json: yield &json
            case .text: yield &text
            case .binary: yield &binary
            }
        }
    }
}
