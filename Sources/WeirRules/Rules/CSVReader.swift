import WeirCore

/// Reads CSV as RFC 4180 writes it: a header row, comma-separated fields, fields in double quotes
/// holding commas, line breaks and `""` for a quote; LF or CRLF line ends; a UTF-8 BOM skipped.
/// Hand-written because the CSV packages at hand (SwiftCSV, CSV.swift) import Foundation, whose
/// ICU data would triple the size of the binary (BENCHMARKS.md, "Footprint").
enum CSVReader {
    /// The header's names, and each further row with its line number and typed values. Empty
    /// lines are skipped; a row with more or fewer fields than the header is an error at its line.
    static func records(_ bytes: [UInt8]) throws(LookupTableError) -> ([String], [(line: Int, values: [JSONValue])]) {
        var rows: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var line = 1
        var rowLine = 1
        var index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRow() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { rows.append((rowLine, fields)) }
            fields.removeAll()
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if quoted {
                if byte == UInt8(ascii: "\""), index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                    field.append(byte)
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    quoted = false
                } else {
                    if byte == 0x0A { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\"") where field.isEmpty: quoted = true
            case UInt8(ascii: ","): endField()
            case 0x0D where index < bytes.count && bytes[index] == 0x0A: continue
            case 0x0A:
                endRow()
                line += 1
                rowLine = line
            default: field.append(byte)
            }
        }
        if quoted { throw LookupTableError(message: "a quoted field is not closed", line: rowLine) }
        if !field.isEmpty || !fields.isEmpty { endRow() }
        guard let header = rows.first else { throw LookupTableError(message: "empty: a CSV table needs a header row", line: 1) }
        let columns = header.fields.map { $0.trimmingWhitespaceAndNewlines() }
        if let empty = columns.firstIndex(of: "") {
            throw LookupTableError(message: "column \(empty + 1) of the header has no name", line: 1)
        }
        if let duplicate = columns.enumerated().first(where: { columns[..<$0.offset].contains($0.element) }) {
            throw LookupTableError(message: "column '\(duplicate.element)' appears twice in the header", line: 1)
        }
        var records: [(line: Int, values: [JSONValue])] = []
        records.reserveCapacity(rows.count - 1)
        for row in rows.dropFirst() {
            guard row.fields.count == columns.count else {
                throw LookupTableError(message: "\(row.fields.count) fields, the header has \(columns.count)", line: row.line)
            }
            records.append((row.line, row.fields.map(typed)))
        }
        return (columns, records)
    }

    /// A field's value: empty is null; an integer or number written the way it prints (so `007`
    /// stays the string `007`), `true` and `false` are themselves; anything else is a string.
    static func typed(_ text: String) -> JSONValue {
        if text.isEmpty { return .null }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let number = Int64(text), String(number) == text { return .int(number) }
        if text.first.map({ $0.isNumber || $0 == "-" }) == true, !text.hasPrefix("0") || text.hasPrefix("0."),
            text.allSatisfy({ "0123456789.eE+-".contains($0) }), let number = Double(text), number.isFinite
        {
            return .double(number)
        }
        return .string(text)
    }
}
