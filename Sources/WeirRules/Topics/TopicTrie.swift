/// An index of values by MQTT topic filter: matching a topic walks its levels once instead of
/// testing every filter, so the cost grows with topic depth, not with the number of rules.
public struct TopicTrie<Value: Sendable>: Sendable {
    private final class Node: @unchecked Sendable {  // mutated only while the trie is built, then read-only
        var children: [Substring: Node] = [:]
        var single: Node?
        var multi: [Value] = []
        var values: [Value] = []
    }

    private let root = Node()
    public private(set) var count = 0

    public init() {}

    /// Adds `value` under `filter`. Build the trie fully before sharing it: it is not copy-on-write.
    public mutating func insert(_ filter: TopicFilter, _ value: Value) {
        var node = root
        for level in filter.levels {
            switch level {
            case .literal(let name):
                let key = Substring(name)
                if let child = node.children[key] {
                    node = child
                } else {
                    let child = Node()
                    node.children[key] = child
                    node = child
                }
            case .singleWildcard:
                if let child = node.single {
                    node = child
                } else {
                    let child = Node()
                    node.single = child
                    node = child
                }
            case .multiWildcard:
                node.multi.append(value)
                count += 1
                return
            }
        }
        node.values.append(value)
        count += 1
    }

    /// Every value whose filter matches `topic`, once per matching filter.
    public func matches(_ topic: String) -> [Value] {
        var result: [Value] = []
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        let isSystem = topic.hasPrefix("$")
        collect(root, levels[...], depth: 0, isSystem: isSystem, into: &result)
        return result
    }

    private func collect(_ node: Node, _ levels: ArraySlice<Substring>, depth: Int, isSystem: Bool, into result: inout [Value]) {
        // Wildcards at the first level never match topics beginning with '$'.
        let wildcardsAllowed = !(depth == 0 && isSystem)
        if wildcardsAllowed { result.append(contentsOf: node.multi) }
        guard let level = levels.first else {
            result.append(contentsOf: node.values)
            return
        }
        let rest = levels.dropFirst()
        if let child = node.children[level] {
            collect(child, rest, depth: depth + 1, isSystem: isSystem, into: &result)
        }
        if wildcardsAllowed, let child = node.single {
            collect(child, rest, depth: depth + 1, isSystem: isSystem, into: &result)
        }
    }
}
