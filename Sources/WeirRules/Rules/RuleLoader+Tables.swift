import FoundationEssentials
import WeirCore

/// `tables:` in rule files: lookup tables, loaded before any rule compiles so every rule can name
/// any table, whichever file declares it.
extension RuleLoader {
    static let tableKeys: Set<String> = ["name", "file", "key", "description"]

    /// Every table declared in `files` (read as `texts`), loaded, and the diagnostics of those
    /// that cannot be: a bad declaration at its place in the rule file, a bad table file at its
    /// line in that file.
    static func loadTables(_ texts: [(file: String, text: String)]) -> (LookupTables, [Diagnostic]) {
        var tables: [LookupTable] = []
        var broken: Set<String> = []
        var diagnostics: [Diagnostic] = []
        var seen: [String: SourceLocation] = [:]
        // Most rule files declare no table: they are not parsed twice.
        for (file, text) in texts where text.contains("tables") {
            let parsed = (try? YAMLFile.withDocuments(text, file: file) { documents in tableDeclarations(documents, file: file) }) ?? []
            for declaration in parsed {
                switch declaration {
                case .failed(let diagnostic, let name):
                    diagnostics.append(diagnostic)
                    if let name { broken.insert(name) }
                case .loaded(let table, let location):
                    if let first = seen[table.name] {
                        diagnostics.append(Diagnostic(location, "duplicate table name '\(table.name)' (first defined at \(first))"))
                    } else {
                        seen[table.name] = location
                        tables.append(table)
                    }
                }
            }
        }
        return (LookupTables(tables, broken: broken), diagnostics)
    }

    /// A table declaration's outcome: loaded, or a diagnostic (with the table's name when it has one).
    enum TableDeclaration {
        case loaded(LookupTable, SourceLocation)
        case failed(Diagnostic, name: String?)
    }

    private static func tableDeclarations(_ documents: [YAMLNode], file: String) -> [TableDeclaration] {
        var results: [TableDeclaration] = []
        for document in documents where !document.isNull {
            guard let top = try? document.mapping("a rule file"), let list = top["tables"] else { continue }
            guard let nodes = try? list.sequence("'tables'") else {
                results.append(.failed(list.error("'tables' must be a list"), name: nil))
                continue
            }
            for node in nodes {
                do {
                    results.append(.loaded(try parseTable(node, file: file), node.location))
                } catch {
                    let name = (try? node.mapping("a table"))?["name"].flatMap { try? $0.string("'name'") }
                    results.append(.failed(error, name: name))
                }
            }
        }
        return results
    }

    /// One declaration: `{ name, file, key }`, the file relative to the rule file's folder.
    static func parseTable(_ node: YAMLNode, file: String) throws(Diagnostic) -> LookupTable {
        let map = try node.mapping("a table")
        try map.checkKeys(tableKeys, in: "a table")
        let name = try parseName(map, "table")
        let fileNode = try map.require("file", in: "table '\(name)'")
        let written = try fileNode.string("'file'")
        guard written.hasSuffix(".csv") || written.hasSuffix(".json") else {
            throw fileNode.error("table file '\(written)' must end in .csv or .json")
        }
        let key = try map.require("key", in: "table '\(name)'").string("'key'")
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        let path = written.hasPrefix("/") ? written : URL(fileURLWithPath: written, relativeTo: folder).standardizedFileURL.path
        do {
            return try LookupTable.load(name: name, path: path, key: key)
        } catch {
            if let line = error.line {
                throw Diagnostic(SourceLocation(file: path, line: line, column: 1), "table '\(name)': \(error.message)")
            }
            throw fileNode.error("table '\(name)': \(error.message)")
        }
    }
}
