import FoundationEssentials
import Glibc
import WeirCore

/// A lookup table declared in a rule file (`tables:`): rows from a CSV or JSON file, indexed by
/// one column, read by `lookup('name', key [, 'column'])` in SQL. Loaded with the rules, so a
/// reload swaps tables and rules together. Immutable once loaded.
public final class LookupTable: Sendable {
    public let name: String
    /// The file the rows came from (absolute).
    public let path: String
    public let keyColumn: String
    /// Column names, in file order.
    public let columns: [String]
    /// Rows by the text of their key (see `keyText`), each in column order.
    let rows: [String: [JSONValue]]

    /// Files larger than this are refused: a table lives in memory, whole, in every rule set.
    public static let maxFileBytes = 64 << 20

    public var count: Int { rows.count }

    init(name: String, path: String, keyColumn: String, columns: [String], rows: [String: [JSONValue]]) {
        self.name = name
        self.path = path
        self.keyColumn = keyColumn
        self.columns = columns
        self.rows = rows
    }

    /// The row for `key` (nil when absent), one column of it, or the whole row as an object.
    func value(for key: JSONValue, column: Int?) -> JSONValue {
        guard let text = Self.keyText(key), let row = rows[text] else { return .null }
        if let column { return row[column] }
        return .object(JSONObject(zip(columns, row).map { ($0, $1) }))
    }

    /// Keys compare by their text, so the payload's `17` and `"17"` and the file's `17` meet;
    /// a whole double counts as its integer. Other types are never keys.
    static func keyText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): return text
        case .int(let number): return String(number)
        case .double(let number) where number.rounded() == number && abs(number) < 9e15: return String(Int64(number))
        case .double(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        default: return nil
        }
    }
}

/// A table file that cannot be loaded: the message, and the line in the file when it is about
/// one (CSV; a JSON table's items are named in the message).
public struct LookupTableError: Error, Sendable {
    public var message: String
    public var line: Int?

    init(message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }
}

extension LookupTable {
    /// Loads `path` (`.csv` with a header row, or `.json`: an array of objects), keyed by `key`.
    public static func load(name: String, path: String, key: String) throws(LookupTableError) -> LookupTable {
        var info = stat()
        guard stat(path, &info) == 0 else { throw LookupTableError(message: "cannot read table file \(path): no such file") }
        guard Int(info.st_size) <= maxFileBytes else {
            throw LookupTableError(message: "table file \(path) is larger than \(maxFileBytes >> 20) MiB")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LookupTableError(message: "cannot read table file \(path)")
        }
        let bytes = [UInt8](data)
        let json = path.hasSuffix(".json")
        let (columns, records) = json ? try jsonRecords(bytes) : try CSVReader.records(bytes)
        guard let keyIndex = columns.firstIndex(of: key) else {
            throw LookupTableError(message: "table file \(path) has no column '\(key)' (columns: \(columns.joined(separator: ", ")))")
        }
        var rows: [String: [JSONValue]] = [:]
        var firstLine: [String: Int] = [:]
        rows.reserveCapacity(records.count)
        // CSV errors point at their line; JSON ones name the item.
        func failure(_ message: String, _ line: Int) -> LookupTableError {
            json ? LookupTableError(message: "item \(line): \(message)") : LookupTableError(message: message, line: line)
        }
        for (line, values) in records {
            guard let text = keyText(values[keyIndex]) else { throw failure("key '\(key)' is empty or not a string or number", line) }
            if let first = firstLine[text] { throw failure("duplicate key '\(text)' (first at \(json ? "item" : "line") \(first))", line) }
            firstLine[text] = line
            rows[text] = values
        }
        return LookupTable(name: name, path: path, keyColumn: key, columns: columns, rows: rows)
    }

    /// A JSON array of objects: the columns are the keys of all objects, in first-seen order; a
    /// key an object lacks is null in its row.
    static func jsonRecords(_ bytes: [UInt8]) throws(LookupTableError) -> ([String], [(line: Int, values: [JSONValue])]) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, maxDepth: 64)
        } catch {
            throw LookupTableError(message: "not valid JSON: \(error)")
        }
        guard case .array(let items) = value else { throw LookupTableError(message: "a JSON table is an array of objects") }
        var columns: [String] = []
        var seen: Set<String> = []
        var objects: [JSONObject] = []
        for (index, item) in items.enumerated() {
            guard case .object(let object) = item else { throw LookupTableError(message: "item \(index + 1): not an object") }
            for key in object.keys where seen.insert(key).inserted { columns.append(key) }
            objects.append(object)
        }
        // JSON has no useful line per item here: items are numbered from 1 instead.
        return (columns, objects.enumerated().map { item in (item.offset + 1, columns.map { item.element[$0] ?? .null }) })
    }
}

/// The tables a rule set's SQL may name. Compiling a rule binds each `lookup('name', …)` to its
/// table, so evaluation does no lookup by name; the loader sets `current` while it compiles.
public struct LookupTables: Sendable {
    /// In declaration order.
    public let all: [LookupTable]
    public let byName: [String: LookupTable]
    /// Tables declared but not loaded: their error is reported once, at the declaration, so a rule
    /// naming one is not reported again as naming an unknown table.
    public let broken: Set<String>

    public init(_ tables: [LookupTable], broken: Set<String> = []) {
        all = tables
        byName = Dictionary(tables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.broken = broken
    }

    /// The tables in force while rules compile (none outside a load).
    @TaskLocal public static var current = LookupTables([])
}
