import Dispatch
import WeirCore
import Yams

/// Parses YAML text into nodes that remember where they came from, so every error an operator sees
/// points at `file:line:col`.
public enum YAMLFile {
    /// Every document in `text`; YAML syntax errors become a `Diagnostic` at libyaml's position.
    public static func documents(_ text: String, file: String) throws(Diagnostic) -> [YAMLNode] {
        try compose(text, file: file)
    }

    /// Calls `body` with every document in `text`, for a large file whose tree must not stay in
    /// the heap (rule files: thousands of rules).
    ///
    /// The tree is built on a thread of its own, so that glibc puts it in that thread's arena
    /// (while glibc has arenas to spare: 8 per core) and what `body` keeps (the rules, built on the
    /// caller's thread) does not fill the holes the tree leaves while it is built. Once `body` has
    /// returned and the tree is freed, that thread frees a block of 64 KiB or more (96 KiB: under
    /// the default mmap threshold, so it comes from the arena), which makes glibc consolidate its
    /// arena and give the free top back to the kernel past the trim threshold
    /// (`useFixedAllocatorThresholds`): `malloc_trim` does that for the main arena only. Composed
    /// in the caller's heap, the tree pinned about 1.3 KiB of freed heap per loaded rule in RSS, as
    /// much again as the rule itself. Strings taken from the tree are copies (`string(_:)`) for the
    /// same reason. When no thread can be started (thread limits), the tree is built on the
    /// caller's thread.
    public static func withDocuments<R>(_ text: String, file: String, _ body: ([YAMLNode]) -> R) throws(Diagnostic) -> R {
        let handoff = Handoff()
        let composed = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        let started = JoinableOSThread.start(name: "weir-yaml") {
            handoff.result = Result { () throws(Diagnostic) in try compose(text, file: file) }
            composed.signal()
            released.wait()
            UnsafeMutableRawPointer.allocate(byteCount: 96 << 10, alignment: 16).deallocate()
        }
        guard let thread = started else { return body(try compose(text, file: file)) }
        composed.wait()
        // The tree is released at the end of this statement, before the thread is let go.
        let outcome = handoff.take().map(body)
        released.signal()
        thread.join()
        return try outcome.get()
    }

    /// Written by the composing thread, then taken by the caller once it has signalled: never at
    /// the same time.
    private final class Handoff: @unchecked Sendable {
        var result: Result<[YAMLNode], Diagnostic>?

        func take() -> Result<[YAMLNode], Diagnostic> {
            defer { result = nil }
            // Never nil: set before the thread signals.
            return result!
        }
    }

    private static func compose(_ text: String, file: String) throws(Diagnostic) -> [YAMLNode] {
        try YAMLNesting.check(text, file: file)
        do {
            var result: [YAMLNode] = []
            var sequence = try Yams.compose_all(yaml: text)
            while let node = sequence.next() {
                result.append(YAMLNode(node, file: file))
            }
            if let error = sequence.error { throw error }
            return result
        } catch let error as YamlError {
            throw diagnostic(for: error, file: file)
        } catch let error as Diagnostic {
            throw error
        } catch {
            throw Diagnostic(SourceLocation(file: file, line: 1, column: 1), "cannot parse YAML: \(error)")
        }
    }

    private static func diagnostic(for error: YamlError, file: String) -> Diagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text) " } ?? ""
            return Diagnostic(SourceLocation(file: file, line: mark.line, column: mark.column), "invalid YAML: \(prefix)\(problem)")
        default:
            return Diagnostic(SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(error)")
        }
    }
}

/// A YAML node with its file position and typed, located accessors.
public struct YAMLNode {
    public let node: Node
    public let file: String

    public init(_ node: Node, file: String) {
        self.node = node
        self.file = file
    }

    public var location: SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    public func error(_ message: String) -> Diagnostic { Diagnostic(location, message) }

    public var isNull: Bool {
        if case .scalar(let s) = node, s.tag == Tag(.null) || (s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)) {
            return true
        }
        return false
    }

    /// The node as a mapping, or a located error naming what was expected.
    public func mapping(_ what: String) throws(Diagnostic) -> YAMLMapping {
        guard case .mapping(let m) = node else { throw error("\(what) must be a mapping, found \(kind)") }
        return try YAMLMapping(m, node: self)
    }

    public func sequence(_ what: String) throws(Diagnostic) -> [YAMLNode] {
        guard case .sequence(let s) = node else { throw error("\(what) must be a list, found \(kind)") }
        return s.map { YAMLNode($0, file: file) }
    }

    /// The scalar as a string of its own: it may outlive the tree (a rule's SQL), and must not
    /// keep the tree's memory in use (see `YAMLFile.withDocuments`).
    public func string(_ what: String) throws(Diagnostic) -> String {
        guard case .scalar(let s) = node, !isNull else { throw error("\(what) must be a string, found \(kind)") }
        var text = s.string
        return text.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count) { buffer in
                _ = buffer.initialize(fromContentsOf: bytes)
                return bytes.count
            }
        }
    }

    public func int(_ what: String) throws(Diagnostic) -> Int {
        guard case .scalar(let s) = node, let value = Int(s.string) else {
            throw error("\(what) must be an integer, found \(kindAndValue)")
        }
        return value
    }

    public func double(_ what: String) throws(Diagnostic) -> Double {
        guard case .scalar(let s) = node, let value = Double(s.string) else {
            throw error("\(what) must be a number, found \(kindAndValue)")
        }
        return value
    }

    public func bool(_ what: String) throws(Diagnostic) -> Bool {
        guard case .scalar(let s) = node else { throw error("\(what) must be true or false, found \(kind)") }
        switch s.string {
        case "true", "True", "TRUE", "yes", "on": return true
        case "false", "False", "FALSE", "no", "off": return false
        default: throw error("\(what) must be true or false, found '\(s.string)'")
        }
    }

    /// The scalar's style, to map positions inside block scalars (`|`, `>`).
    public var scalarStyle: Node.Scalar.Style? {
        if case .scalar(let s) = node { return s.style }
        return nil
    }

    var kind: String {
        switch node {
        case .scalar: return isNull ? "null" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    var kindAndValue: String {
        if case .scalar(let s) = node, !isNull { return "'\(s.string)'" }
        return kind
    }
}

/// A YAML mapping whose keys are checked: duplicates and unknown keys are errors, not surprises.
public struct YAMLMapping {
    public let node: YAMLNode
    public let entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)]

    init(_ mapping: Node.Mapping, node: YAMLNode) throws(Diagnostic) {
        self.node = node
        var entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        var seen: Set<String> = []
        for (key, value) in mapping {
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
