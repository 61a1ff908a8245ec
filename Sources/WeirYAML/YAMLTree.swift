/// The documents of one YAML text as a tree of nodes that remember their position.
///
/// Flat storage: every node is one fixed-size element of one array, the children of all
/// collections are one array of node numbers, and the values of all scalars are one byte
/// array. A tree of a few large blocks is cheap to build and to free, and each string taken
/// from it (`Node.string`) is a copy: nothing kept from the tree keeps the tree's memory.
///
/// An alias is the node it names, shared, not copied: a mapping reached through two aliases is
/// one node with two parents. Immutable once built, so safe to read from any thread.
public final class YAMLTree: Sendable {
    /// The most nodes that aliases may add to the tree as it would be expanded (the node an
    /// alias names counts with all its descendants, aliases inside it expanded too): far more than
    /// any real file, far less than an alias bomb ("billion laughs"), whose nine levels of nine
    /// aliases expand to about 10⁹ nodes.
    public static let maxAliasExpansion = 1_000_000

    enum Kind: UInt8 {
        case scalar, sequence, mapping
    }

    struct Element {
        var kind: Kind
        var style: ScalarStyle
        /// A scalar that resolves to null (see `Node.isNull`).
        var isNull: Bool
        var line: Int32
        var column: Int32
        /// A scalar: offset and length of its value in `bytes`. A sequence: offset of its items in
        /// `children`, and their count. A mapping: offset of its keys and values (alternating) in
        /// `children`, and the number of pairs.
        var start: Int32
        var count: Int32
    }

    let elements: [Element]
    let children: [Int32]
    let bytes: [UInt8]
    let roots: [Int32]

    init(elements: [Element], children: [Int32], bytes: [UInt8], roots: [Int32]) {
        self.elements = elements
        self.children = children
        self.bytes = bytes
        self.roots = roots
    }

    /// The root node of each document, in order.
    public var documents: [Node] { roots.map { Node(tree: self, id: $0) } }

    /// The style a scalar was written in.
    public enum ScalarStyle: UInt8, Sendable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    /// One node of a tree (it keeps the tree alive).
    public struct Node: Sendable {
        public enum Kind: Sendable {
            case scalar, sequence, mapping
        }

        let tree: YAMLTree
        let id: Int32

        var element: Element { tree.elements[Int(id)] }

        public var kind: Kind {
            switch element.kind {
            case .scalar: .scalar
            case .sequence: .sequence
            case .mapping: .mapping
            }
        }

        /// Where the node starts: a scalar's first character (its quote or block indicator), a
        /// collection's first key, item or bracket (or its anchor or tag).
        public var mark: YAMLMark { YAMLMark(line: Int(element.line), column: Int(element.column)) }

        /// A scalar's style; nil for a collection.
        public var scalarStyle: ScalarStyle? { element.kind == .scalar ? element.style : nil }

        /// A scalar that means null, as YAML 1.1's resolver reads plain scalars: empty, `~`, `null`,
        /// `Null` or `NULL` written plain (quoted, they are strings), or any scalar tagged `!!null`.
        public var isNull: Bool { element.kind == .scalar && element.isNull }

        /// A scalar's value, as a string of its own; nil for a collection.
        public var string: String? {
            let element = element
            guard element.kind == .scalar else { return nil }
            let start = Int(element.start)
            return String(decoding: tree.bytes[start..<start + Int(element.count)], as: UTF8.self)
        }

        /// A sequence's items; empty for anything else.
        public var items: [Node] {
            let element = element
            guard element.kind == .sequence else { return [] }
            let start = Int(element.start)
            return tree.children[start..<start + Int(element.count)].map { Node(tree: tree, id: $0) }
        }

        /// A mapping's keys and values, in the order written; empty for anything else.
        public var pairs: [(key: Node, value: Node)] {
            let element = element
            guard element.kind == .mapping else { return [] }
            let start = Int(element.start)
            return (0..<Int(element.count)).map { pair in
                (Node(tree: tree, id: tree.children[start + 2 * pair]), Node(tree: tree, id: tree.children[start + 2 * pair + 1]))
            }
        }
    }
}
