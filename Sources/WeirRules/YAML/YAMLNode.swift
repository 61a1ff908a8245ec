import WeirCore
import WeirYAML

/// A YAML node with its file position and typed, located accessors.
///
/// Scalars are read as Weir always read them: a string is the scalar's text whatever its style
/// (`'5'` and `5` are both the integer 5 where an integer is expected); null is a plain empty
/// scalar, `~`, `null`, `Null` or `NULL`, or one tagged `!!null` (`'null'` is a string); true and
/// false are `true`, `True`, `TRUE`, `yes`, `on` and `false`, `False`, `FALSE`, `no`, `off`.
public struct YAMLNode {
    public let node: YAMLTree.Node
    public let file: String

    public init(_ node: YAMLTree.Node, file: String) {
        self.node = node
        self.file = file
    }

    public var location: SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    public func error(_ message: String) -> Diagnostic { Diagnostic(location, message) }

    public var isNull: Bool { node.isNull }

    /// The node as a mapping, or a located error naming what was expected.
    public func mapping(_ what: String) throws(Diagnostic) -> YAMLMapping {
        guard node.kind == .mapping else { throw error("\(what) must be a mapping, found \(kind)") }
        return try YAMLMapping(node.pairs, node: self)
    }

    public func sequence(_ what: String) throws(Diagnostic) -> [YAMLNode] {
        guard node.kind == .sequence else { throw error("\(what) must be a list, found \(kind)") }
        return node.items.map { YAMLNode($0, file: file) }
    }

    /// The scalar as a string of its own: it may outlive the tree (a rule's SQL), and must not
    /// keep the tree's memory in use (see `YAMLFile.withDocuments`); the tree's strings are copies.
    public func string(_ what: String) throws(Diagnostic) -> String {
        guard !isNull, let text = node.string else { throw error("\(what) must be a string, found \(kind)") }
        return text
    }

    public func int(_ what: String) throws(Diagnostic) -> Int {
        guard let text = node.string, let value = Int(text) else {
            throw error("\(what) must be an integer, found \(kindAndValue)")
        }
        return value
    }

    public func double(_ what: String) throws(Diagnostic) -> Double {
        guard let text = node.string, let value = Double(text) else {
            throw error("\(what) must be a number, found \(kindAndValue)")
        }
        return value
    }

    public func bool(_ what: String) throws(Diagnostic) -> Bool {
        guard let text = node.string else { throw error("\(what) must be true or false, found \(kind)") }
        switch text {
        case "true", "True", "TRUE", "yes", "on": return true
        case "false", "False", "FALSE", "no", "off": return false
        default: throw error("\(what) must be true or false, found '\(text)'")
        }
    }

    /// The scalar's style, to map positions inside block scalars (`|`, `>`).
    public var scalarStyle: YAMLTree.ScalarStyle? { node.scalarStyle }

    var kind: String {
        switch node.kind {
        case .scalar: return isNull ? "null" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    var kindAndValue: String {
        if !isNull, let text = node.string { return "'\(text)'" }
        return kind
    }
}

/// A YAML mapping whose keys are checked: duplicates and unknown keys are errors, not surprises.
public struct YAMLMapping {
    public let node: YAMLNode
    public let entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)]

    init(_ pairs: [(key: YAMLTree.Node, value: YAMLTree.Node)], node: YAMLNode) throws(Diagnostic) {
        self.node = node
        var entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        entries.reserveCapacity(pairs.count)
        var seen: Set<String> = []
        for (key, value) in pairs {
            let keyNode = YAMLNode(key, file: node.file)
            let name = try keyNode.string("a key")
            guard seen.insert(name).inserted else { throw keyNode.error("duplicate key '\(name)'") }
            entries.append((name, keyNode, YAMLNode(value, file: node.file)))
        }
        self.entries = entries
    }

    public subscript(key: String) -> YAMLNode? {
        entries.first { $0.key == key }?.value
    }

    /// The value for `key`, or a located error saying it is missing.
    public func require(_ key: String, in what: String) throws(Diagnostic) -> YAMLNode {
        guard let value = self[key] else { throw node.error("\(what) is missing '\(key)'") }
        return value
    }

    /// Fails on the first key not in `allowed`, pointing at that key.
    public func checkKeys(_ allowed: Set<String>, in what: String) throws(Diagnostic) {
        for entry in entries where !allowed.contains(entry.key) {
            let expected = allowed.sorted().joined(separator: ", ")
            throw entry.keyNode.error("unknown key '\(entry.key)' in \(what) (expected one of: \(expected))")
        }
    }
}
