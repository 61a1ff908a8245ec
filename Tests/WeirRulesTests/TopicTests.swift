import Testing

@testable import WeirRules

@Suite struct TopicFilterTests {
    @Test(arguments: [
        // MQTT 3.1.1 §4.7 examples and edge cases.
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("#", "anything/at/all", true),
        ("#", "/leading", true),
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("a//c", "a//c", true),
        ("a/+/c", "a//c", true),
        ("a/b", "a/b/c", false),
        ("a/b/c", "a/b", false),
        ("A/b", "a/b", false),
        // Wildcards at the first level do not match $-topics; literal $SYS filters do.
        ("#", "$SYS/broker/uptime", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/broker/uptime", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ])
    func matching(filter: String, topic: String, expected: Bool) throws {
        let parsed = try TopicFilter(filter)
        #expect(parsed.matches(topic) == expected)
        var trie = TopicTrie<Int>()
        trie.insert(parsed, 1)
        #expect((trie.matches(topic) == [1]) == expected, "trie agrees with the filter")
    }

    @Test(arguments: ["sport/tennis#", "sport/#/ranking", "sport+", "", "a/b+/c"])
    func rejectsInvalidFilters(filter: String) {
        #expect(throws: TopicFilter.Invalid.self) { try TopicFilter(filter) }
    }

    @Test func invalidFilterPointsAtTheLevel() {
        #expect {
            try TopicFilter("a/bb/c#")
        } throws: { error in
            (error as? TopicFilter.Invalid)?.offset == 5
        }
    }

    @Test func trieReturnsEveryMatchingFilterAndNothingElse() throws {
        var trie = TopicTrie<String>()
        let filters = ["sensors/+/telemetry", "sensors/#", "sensors/a/telemetry", "#", "other/+", "sensors/+/+", "+/a/#"]
        for f in filters { trie.insert(try TopicFilter(f), f) }
        #expect(trie.count == filters.count)
        let topics = ["sensors/a/telemetry", "sensors/b/status", "other/x", "other/x/y", "sensors", "$SYS/a/b"]
        for topic in topics {
            let expected = try filters.filter { try TopicFilter($0).matches(topic) }.sorted()
            #expect(trie.matches(topic).sorted() == expected, "topic \(topic)")
        }
    }
}
