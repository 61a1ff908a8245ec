import CYAML
import Glibc

extension YAMLTree {
    /// Parses every document of `text` (UTF-8) with libyaml and builds their nodes.
    ///
    /// The tree is built from libyaml's parser events with an explicit stack of open collections,
    /// not by recursion, so no nesting overflows the thread's stack. Anchors are registered when
    /// their node is complete (an alias inside its own anchor's node is undefined) and stay known
    /// in later documents, as Yams had them.
    public static func parse(_ text: String) throws(YAMLError) -> YAMLTree {
        var text = text
        let result = text.withUTF8 { bytes in Result { () throws(YAMLError) in try compose(bytes) } }
        return try result.get()
    }

    private static func compose(_ input: UnsafeBufferPointer<UInt8>) throws(YAMLError) -> YAMLTree {
        guard let base = input.baseAddress, !input.isEmpty else { return YAMLTree(elements: [], children: [], bytes: [], roots: []) }
        // Node numbers and offsets are 32-bit: a tree holds fewer value bytes than the text has bytes, and
        // fewer than two elements or children per byte of text (`[?]` is four nodes in three bytes).
        guard input.count <= Int(Int32.max) / 4 else {
            throw YAMLError(stage: .reader, problem: "input is too long", mark: YAMLMark(line: 1, column: 1))
        }
        // libyaml keeps a pointer to the parser in the parser (its string reader's data): it must not move.
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        try libyaml(yaml_parser_initialize(parser), parser)
        defer { yaml_parser_delete(parser) }
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, base, input.count)
        let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        defer { event.deallocate() }
        var builder = Builder()
        builder.bytes.reserveCapacity(input.count)
        while true {
            try libyaml(yaml_parser_parse(parser, event), parser)
            defer { yaml_event_delete(event) }
            if try builder.take(event.pointee) { break }
        }
        return YAMLTree(elements: builder.elements, children: builder.children, bytes: builder.bytes, roots: builder.roots)
    }

    /// The tree as the events build it.
    private struct Builder {
        /// A collection whose end event has not come yet.
        struct Open {
            var id: Int32
            /// Where its members (node numbers) start in `pending`.
            var pendingStart: Int
            /// `expanded` before it started: its expanded size is the difference at its end.
            var expandedBefore: Int
            var anchor: String?
        }

        var elements: [Element] = []
        var children: [Int32] = []
        var bytes: [UInt8] = []
        var roots: [Int32] = []
        /// Members of the open collections, innermost last.
        var pending: [Int32] = []
        var open: [Open] = []
        /// Each anchor's node and its size expanded (itself, its descendants, through aliases).
        var anchors: [String: (id: Int32, size: Int)] = [:]
        /// Nodes so far, aliases expanded; and how many of them the aliases added.
        var expanded = 0
        var aliasExpansion = 0

        /// Adds one event; true at the end of the stream.
        mutating func take(_ event: yaml_event_t) throws(YAMLError) -> Bool {
            let mark = YAMLMark(event.start_mark)
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return true
            case YAML_ALIAS_EVENT:
                let name = String(cString: event.data.alias.anchor)
                guard let target = anchors[name] else { throw YAMLError(stage: .composer, problem: "found undefined alias", mark: mark) }
                aliasExpansion += target.size
                expanded += target.size
                guard aliasExpansion <= YAMLTree.maxAliasExpansion else {
                    throw YAMLError(
                        stage: .composer, problem: "aliases expand to more than \(YAMLTree.maxAliasExpansion) nodes", mark: mark)
                }
                attach(target.id)
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let start = bytes.count
                if scalar.length > 0 { bytes.append(contentsOf: UnsafeBufferPointer(start: scalar.value, count: scalar.length)) }
                let style = Self.style(scalar.style)
                let taggedNull = scalar.quoted_implicit == 0 && scalar.tag.map { strcmp($0, "tag:yaml.org,2002:null") == 0 } == true
                let id = append(
                    Element(
                        kind: .scalar, style: style, isNull: taggedNull || (style == .plain && Self.isNullWord(bytes[start...])),
                        line: Int32(clamping: mark.line), column: Int32(clamping: mark.column), start: Int32(start),
                        count: Int32(bytes.count - start)))
                attach(id)
                expanded += 1
                if let anchor = scalar.anchor { anchors[String(cString: anchor)] = (id, 1) }
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
                let id = append(
                    Element(
                        kind: isMapping ? .mapping : .sequence, style: .plain, isNull: false, line: Int32(clamping: mark.line),
                        column: Int32(clamping: mark.column), start: 0, count: 0))
                attach(id)
                expanded += 1
                open.append(
                    Open(id: id, pendingStart: pending.count, expandedBefore: expanded - 1, anchor: anchor.map { String(cString: $0) }))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                let collection = open.removeLast()
                let members = pending.count - collection.pendingStart
                let id = Int(collection.id)
                elements[id].start = Int32(children.count)
                elements[id].count = Int32(elements[id].kind == .mapping ? members / 2 : members)
                children.append(contentsOf: pending[collection.pendingStart...])
                pending.removeSubrange(collection.pendingStart...)
                if let anchor = collection.anchor { anchors[anchor] = (collection.id, expanded - collection.expandedBefore) }
            default:
                break  // the stream's start, a document's start or end
            }
            return false
        }

        mutating func append(_ element: Element) -> Int32 {
            elements.append(element)
            return Int32(elements.count - 1)
        }

        /// A finished node becomes a member of the innermost open collection, or a document.
        mutating func attach(_ id: Int32) {
            if open.isEmpty { roots.append(id) } else { pending.append(id) }
        }

        static func style(_ style: yaml_scalar_style_t) -> ScalarStyle {
            switch style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: .literal
            case YAML_FOLDED_SCALAR_STYLE: .folded
            default: .plain
            }
        }

        /// The plain scalars YAML 1.1 reads as null: empty, `~`, `null`, `Null`, `NULL`.
        static func isNullWord(_ value: ArraySlice<UInt8>) -> Bool {
            switch value.count {
            case 0: true
            case 1: value.first == UInt8(ascii: "~")
            case 4: ["null", "Null", "NULL"].contains { $0.utf8.elementsEqual(value) }
            default: false
            }
        }
    }
}
