import FoundationEssentials
import Glibc
import WeirCore

/// Loads every `*.yaml` / `*.yml` file under a rules directory into a `RuleSet`.
///
/// A file holds one rule (top-level `name`, `sql`, `actions`), a `rules:` list, or several YAML
/// documents. Loading is all-or-nothing: any diagnostic rejects the whole set, so a reload with a bad
/// file leaves the previous good set running.
public enum RuleLoader {
    static let ruleKeys: Set<String> = [
        "name", "sql", "actions", "description", "enabled", "event_time", "max_groups", "max_groups_in_memory", "late", "format",
        "max_partitions",
    ]

    /// Loads the directory (recursively, in path order) and fails with every problem found.
    /// - Parameter upstreams: the upstream names `forward` may name; `nil` skips that check.
    public static func load(directory: String, upstreams: Set<String>? = nil) throws(DiagnosticList) -> RuleSet {
        let files: [String]
        do {
            files = try ruleFiles(in: directory)
        } catch {
            throw DiagnosticList([Diagnostic(SourceLocation(file: directory, line: 1, column: 1), "cannot read rules directory: \(error)")])
        }
        var rules: [Rule] = []
        var schedules: [ScheduledRule] = []
        var functions: [FunctionSpec] = []
        var diagnostics: [Diagnostic] = []
        var texts: [(file: String, text: String)] = []
        for file in files {
            guard let text = readText(file) else {
                diagnostics.append(
                    Diagnostic(SourceLocation(file: file, line: 1, column: 1), "cannot read file (missing, unreadable or not UTF-8)"))
                continue
            }
            texts.append((file, text))
        }
        // Tables first: a rule in any file may look up a table declared in any other.
        let (tables, tableDiagnostics) = loadTables(texts)
        diagnostics += tableDiagnostics
        LookupTables.$current.withValue(tables) {
            for (file, text) in texts {
                let parsed = parseFile(text, file: file, upstreams: upstreams)
                rules += parsed.rules
                schedules += parsed.schedules
                functions += parsed.functions
                diagnostics += parsed.diagnostics
            }
        }
        var declared: [String: FunctionSpec] = [:]
        for function in functions {
            if let first = declared[function.name] {
                diagnostics.append(
                    Diagnostic(function.location, "duplicate function name '\(function.name)' (first defined at \(first.location))"))
            } else {
                declared[function.name] = function
            }
        }
        for call in rules.flatMap(\.callSites) + schedules.flatMap(\.callSites) where declared[call.function] == nil {
            let known = declared.isEmpty ? "none declared" : declared.keys.sorted().joined(separator: ", ")
            diagnostics.append(Diagnostic(call.location, "unknown function '\(call.function)' (functions: \(known))"))
        }
        var seen: [String: SourceLocation] = [:]
        for (name, location) in rules.map({ ($0.name, $0.location) }) + schedules.map({ ($0.name, $0.location) }) {
            if let first = seen[name] {
                diagnostics.append(Diagnostic(location, "duplicate rule name '\(name)' (first defined at \(first))"))
            } else {
                seen[name] = location
            }
        }
        guard diagnostics.isEmpty else { throw DiagnosticList(diagnostics) }
        return RuleSet(rules: rules, functions: declared, schedules: schedules, tables: tables.all)
    }

    /// The rule files under `directory` and its folders, sorted: names ending in `.yaml` or `.yml`,
    /// skipping hidden files and folders (a leading dot), editor leftovers (`a.yaml~`) and rule
    /// test files (`*.test.yaml`, `*.test.yml`: see `testFiles(in:)`), so a test never becomes a
    /// rule. Symbolic links to files count; links to folders are not followed. Paths are absolute
    /// (a relative `directory` is taken from the working directory).
    public static func ruleFiles(in directory: String) throws(RulesDirectoryError) -> [String] {
        try yamlFiles(in: directory).filter { !isTestFile($0) }
    }

    /// The rule test files (`*.test.yaml`, `*.test.yml`) under `directory`, found as rule files are.
    public static func testFiles(in directory: String) throws(RulesDirectoryError) -> [String] {
        try yamlFiles(in: directory).filter(isTestFile)
    }

    /// Whether a path names a rule test file rather than a rule file.
    public static func isTestFile(_ path: String) -> Bool {
        path.hasSuffix(".test.yaml") || path.hasSuffix(".test.yml")
    }

    private static func yamlFiles(in directory: String) throws(RulesDirectoryError) -> [String] {
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw RulesDirectoryError() }
        var root = URL(fileURLWithPath: directory).path
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        var files: [String] = []
        var folders = [root]
        while let folder = folders.popLast() {
            // A folder that cannot be read holds no rule files, as Foundation's enumerator had it.
            guard let stream = opendir(folder) else { continue }
            defer { closedir(stream) }
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard !name.hasPrefix(".") else { continue }
                let path = (folder == "/" ? "" : folder) + "/" + name
                var entryInfo = stat()
                if lstat(path, &entryInfo) == 0, entryInfo.st_mode & S_IFMT == S_IFDIR { folders.append(path) }
                if name.hasSuffix(".yaml") || name.hasSuffix(".yml") { files.append(path) }
            }
        }
        return files.sorted()
    }

    static func readText(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// Parses one file's text; returns the good rules and the diagnostics of the bad ones.
    public static func parse(_ text: String, file: String, upstreams: Set<String>? = nil) -> ([Rule], [Diagnostic]) {
        let parsed = parseFile(text, file: file, upstreams: upstreams)
        return (parsed.rules, parsed.diagnostics)
    }

    /// What one rule file holds, and the diagnostics of what is wrong in it.
    public struct ParsedFile: Sendable {
        public var rules: [Rule] = []
        public var schedules: [ScheduledRule] = []
        public var functions: [FunctionSpec] = []
        public var diagnostics: [Diagnostic] = []
    }

    /// Parses one file's text into its rules, scheduled rules and functions.
    public static func parseFile(_ text: String, file: String, upstreams: Set<String>? = nil) -> ParsedFile {
        do {
            return try YAMLFile.withDocuments(text, file: file) { parse($0, text: text, upstreams: upstreams) }
        } catch {
            return ParsedFile(diagnostics: [error])
        }
    }

    private static func parse(_ documents: [YAMLNode], text: String, upstreams: Set<String>?) -> ParsedFile {
        var parsed = ParsedFile()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for document in documents where !document.isNull {
            do {
                let top = try document.mapping("a rule file")
                var ruleNodes: [YAMLNode] = []
                if top["rules"] != nil || top["functions"] != nil || top["tables"] != nil {
                    // Tables were loaded before the rules (`loadTables`).
                    try top.checkKeys(["rules", "functions", "tables"], in: "a rule file with 'rules', 'functions' or 'tables' lists")
                    ruleNodes = try top["rules"]?.sequence("'rules'") ?? []
                    for node in try top["functions"]?.sequence("'functions'") ?? [] {
                        do {
                            parsed.functions.append(try parseFunction(node))
                        } catch {
                            parsed.diagnostics.append(error)
                        }
                    }
                } else {
                    ruleNodes = [document]
                }
                // Grown once: each regrowth of a large array leaves a freed block among the rules.
                parsed.rules.reserveCapacity(parsed.rules.count + ruleNodes.count)
                for node in ruleNodes {
                    do {
                        if let map = try? node.mapping("a rule"), map["schedule"] != nil {
                            parsed.schedules.append(try parseScheduledRule(node, lines: lines, upstreams: upstreams))
                        } else {
                            parsed.rules.append(try parseRule(node, lines: lines, upstreams: upstreams))
                        }
                    } catch {
                        parsed.diagnostics.append(error)
                    }
                }
            } catch {
                parsed.diagnostics.append(error)
            }
        }
        return parsed
    }

    /// The `name` of a rule or function: letters, digits, '-', '_' and '.' (it appears in metric labels and keys).
    static func parseName(_ map: YAMLMapping, _ what: String) throws(Diagnostic) -> String {
        let nameNode = try map.require("name", in: "the \(what)")
        let name = try nameNode.string("'name'")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw nameNode.error("\(what) name '\(name)' may contain only letters, digits, '-', '_' and '.'")
        }
        return name
    }

    static func parseRule(_ node: YAMLNode, lines: [Substring], upstreams: Set<String>?) throws(Diagnostic) -> Rule {
        let map = try node.mapping("a rule")
        try map.checkKeys(ruleKeys, in: "a rule")
        let name = try parseName(map, "rule")
        let sqlNode = try map.require("sql", in: "rule '\(name)'")
        let sql = try sqlNode.string("'sql'")
        let query: CompiledQuery
        do {
            query = try CompiledQuery(sql: sql)
        } catch {
            throw Diagnostic(ScalarPosition.locate(byteOffset: error.offset, in: sql, node: sqlNode, lines: lines), error.message)
        }
        for (filter, offset) in zip(query.topicFilters, query.filterOffsets) {
            do {
                _ = try TopicFilter(filter)
            } catch {
                throw Diagnostic(
                    ScalarPosition.locate(byteOffset: offset + error.offset, in: sql, node: sqlNode, lines: lines),
                    "invalid topic filter \"\(filter)\": \(error.message)")
            }
        }
        // A disabled rule is still checked, so enabling it later cannot surprise anyone.
        let enabled = try map["enabled"]?.bool("'enabled'") ?? true
        let actionsNode = try map.require("actions", in: "rule '\(name)'")
        let actions = try parseActions(actionsNode, query: query, upstreams: upstreams)
        var timeMode = TimeMode.processing
        if let n = map["event_time"] {
            guard query.grouping != nil || !query.stateful.isEmpty else {
                throw n.error("'event_time' needs a windowed rule (GROUP BY with a window) or stateful functions (lag, changed, …)")
            }
            timeMode = try parseEventTime(n)
        }
        var maxGroups = 100_000
        if let n = map["max_groups"] {
            guard query.grouping != nil else { throw n.error("'max_groups' needs a grouped rule") }
            maxGroups = try n.int("'max_groups'")
            guard maxGroups >= 1 else { throw n.error("'max_groups' must be at least 1") }
        }
        var lateActions: [ActionSpec] = []
        if let n = map["late"] {
            guard case .event = timeMode, query.grouping != nil else {
                throw n.error("'late' needs 'event_time': only event-time windows have late events")
            }
            lateActions = try parseActions(n, query: query, upstreams: upstreams, checkColumns: false)
        }
        var maxGroupsInMemory = 10_000
        if let n = map["max_groups_in_memory"] {
            guard query.grouping != nil else { throw n.error("'max_groups_in_memory' needs a grouped rule") }
            maxGroupsInMemory = try n.int("'max_groups_in_memory'")
            guard maxGroupsInMemory >= 1 else { throw n.error("'max_groups_in_memory' must be at least 1") }
        }
        if query.grouping != nil, query.grouping?.window == nil {
            throw sqlNode.error("GROUP BY needs a window (TUMBLING, HOPPING, SLIDING, SESSION or COUNT): a stream never ends")
        }
        var rule = Rule(
            name: name, sql: sql, query: query, actions: actions, location: node.location, enabled: enabled, timeMode: timeMode,
            maxGroups: maxGroups, maxGroupsInMemory: maxGroupsInMemory, lateActions: lateActions)
        if let n = map["max_partitions"] {
            guard !query.stateful.isEmpty else { throw n.error("'max_partitions' needs stateful functions (lag, changed, …)") }
            rule.maxPartitions = try n.int("'max_partitions'")
            guard rule.maxPartitions >= 1 else { throw n.error("'max_partitions' must be at least 1") }
        }
        rule.callSites = callSites(in: actionsNode) + (map["late"].map(callSites(in:)) ?? [])
        if let n = map["format"] {
            let text = try n.string("'format'")
            guard let format = PayloadFormat(rawValue: text) else {
                throw n.error("'format' must be json, text or binary, found '\(text)'")
            }
            rule.payloadFormat = format
        }
        return rule
    }

    static func parseEventTime(_ node: YAMLNode) throws(Diagnostic) -> TimeMode {
        let e = try node.mapping("'event_time'")
        try e.checkKeys(["field", "lateness", "idle_timeout"], in: "'event_time'")
        let field = try e.require("field", in: "'event_time'").string("'field'")
        func millis(_ key: String, _ fallback: Int64) throws(Diagnostic) -> Int64 {
            guard let n = e[key] else { return fallback }
            let text = try n.string("'\(key)'")
            guard let value = parseDuration(text) else { throw n.error("'\(key)' must be a duration such as 2s, found '\(text)'") }
            return value.milliseconds
        }
        return .event(field: field, lateness: try millis("lateness", 0), idleTimeout: try millis("idle_timeout", 30_000))
    }
}

/// The rules directory is missing or is not a folder.
public struct RulesDirectoryError: Error, Sendable, CustomStringConvertible {
    /// Foundation's words for it, which `weir check` has always printed.
    public var description: String { "The operation could not be completed. The file doesn\u{2019}t exist." }
}
