import Foundation
import Testing
import WeirCore

@testable import WeirRules

/// How a large rule file's YAML tree is kept apart from the rules built from it (see
/// `YAMLFile.withDocuments`); the memory figure itself is `weir-bench product`'s RSS per rule.
@Suite struct YAMLFileTests {
    static func threadName() -> String {
        (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? ""
    }

    /// The names of this process's threads now.
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .newlines) }
    }

    /// The tree is composed on its own thread, alive while the body runs; the body (which builds
    /// what is kept) runs on the caller's thread; the composing thread is gone afterwards.
    @Test func theTreeIsComposedOnItsOwnThreadAndTheBodyRunsOnTheCallers() throws {
        let caller = Self.threadName()
        let (names, bodyThread, yamlThreads) = try YAMLFile.withDocuments("a: 1\n---\nb: 2\n", file: "t.yaml") { documents in
            (
                documents.map { (try? $0.mapping("doc"))?.entries.map(\.key) ?? [] }, Self.threadName(),
                Self.threadNames().filter { $0 == "weir-yaml" }.count
            )
        }
        #expect(names == [["a"], ["b"]])
        #expect(bodyThread == caller)
        #expect(caller != "weir-yaml")
        #expect(yamlThreads >= 1, "the composing thread waits while the body runs")
    }

    /// A syntax error still points at the file, line and column.
    @Test func aSyntaxErrorIsADiagnosticWithItsPosition() {
        #expect(throws: Diagnostic.self) {
            try YAMLFile.withDocuments("a: [1, 2\nb: 3\n", file: "bad.yaml") { _ in 0 }
        }
        let parsed = RuleLoader.parseFile("rules: [\n", file: "bad.yaml")
        #expect(parsed.diagnostics.first?.description.hasPrefix("bad.yaml:") == true)
    }

    /// A string taken from the tree has storage of its own, so keeping it does not keep the tree's memory.
    @Test func stringsTakenFromTheTreeAreCopies() throws {
        let sql = "SELECT device, temp FROM \"sensors/+/telemetry\" WHERE temp > 40"
        try YAMLFile.withDocuments("sql: '\(sql)'\n", file: "t.yaml") { documents in
            guard let value = documents[0].node.pairs.first?.value, var inTree = value.string else {
                Issue.record("not a scalar")
                return
            }
            var taken = (try? documents[0].mapping("doc").require("sql", in: "doc").string("sql")) ?? ""
            #expect(taken == sql)
            let treeStorage = inTree.withUTF8 { UInt(bitPattern: $0.baseAddress) }
            let takenStorage = taken.withUTF8 { UInt(bitPattern: $0.baseAddress) }
            #expect(treeStorage != takenStorage)
        }
    }

    /// The nesting bound refuses what would overflow the stack, at its line, and nothing a real
    /// file holds: brackets in strings and SQL, deep but sane structures.
    @Test func nestingIsBoundedBeforeLibyamlSeesTheText() throws {
        let fine = """
            rules:
              - name: a   # [[[[ in a comment
                sql: SELECT a[0], b['k'] FROM "t/#" WHERE s = '[[[[{{{{'
                actions: [ { publish: { topic: "x/${a}", qos: 1 } } ]
            """
        #expect(try YAMLFile.documents(fine, file: "f.yaml").count == 1)
        let flow = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try YAMLFile.documents(flow, file: "f.yaml").count == 1, "100 levels are fine")
        var block = ""
        for level in 0..<100 { block += String(repeating: " ", count: level) + "k\(level):\n" }
        #expect(try YAMLFile.documents(block + String(repeating: " ", count: 100) + "v\n", file: "f.yaml").count == 1)

        let deepFlow = "a: 1\nb: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let error = #expect(throws: Diagnostic.self) { try YAMLFile.documents(deepFlow, file: "f.yaml") }
        #expect(error?.description.hasPrefix("f.yaml:2:1: YAML nested more than 128 levels deep") == true)
        let compact = String(repeating: "- ", count: 200) + "x"
        #expect(throws: Diagnostic.self) { try YAMLFile.documents(compact, file: "f.yaml") }
        var deepBlock = ""
        for level in 0..<200 { deepBlock += String(repeating: " ", count: level) + "k\(level):\n" }
        #expect(throws: Diagnostic.self) { try YAMLFile.documents(deepBlock, file: "f.yaml") }
    }
}
