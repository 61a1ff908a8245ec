import Testing
import WeirYAML

@Suite struct YAMLTreeTests {
    @Test func nodesKeepTheirKindStylePositionAndValue() throws {
        let tree = try YAMLTree.parse("a: plain\nb: 'single'\nc: \"double\"\nd: |\n  literal\ne: >\n  folded\nf: [1, {g: h}]\n")
        let root = try #require(tree.documents.first)
        #expect(root.kind == .mapping)
        #expect(root.mark == YAMLMark(line: 1, column: 1))
        let pairs = root.pairs
        #expect(pairs.map { $0.key.string } == ["a", "b", "c", "d", "e", "f"])
        #expect(pairs.map { $0.value.scalarStyle } == [.plain, .singleQuoted, .doubleQuoted, .literal, .folded, nil])
        #expect(pairs.map { $0.value.string } == ["plain", "single", "double", "literal\n", "folded\n", nil])
        #expect(pairs[1].value.mark == YAMLMark(line: 2, column: 4))
        let list = pairs[5].value
        #expect(list.kind == .sequence)
        #expect(list.mark == YAMLMark(line: 8, column: 4))
        #expect(list.items.count == 2)
        #expect(list.items[1].pairs.first?.value.string == "h")
        #expect(list.items[1].mark == YAMLMark(line: 8, column: 8))
    }

    @Test func nullIsPlainEmptyTildeOrNullOrTaggedNull() throws {
        let text = "- \n- ~\n- null\n- Null\n- NULL\n- 'null'\n- \"\"\n- nULL\n- !!null x\n- !!str ~\n- !!null ''\n"
        let items = try #require(try YAMLTree.parse(text).documents.first).items
        #expect(items.map(\.isNull) == [true, true, true, true, true, false, false, false, true, true, true])
    }

    @Test func columnsCountUnicodeScalars() throws {
        let root = try #require(try YAMLTree.parse("ä🌡: [x, y]\n").documents.first)
        #expect(root.pairs[0].value.mark == YAMLMark(line: 1, column: 5))
        #expect(root.pairs[0].value.items[1].mark == YAMLMark(line: 1, column: 9))
    }

    @Test func documentsEmptyTextAndComments() throws {
        #expect(try YAMLTree.parse("").documents.isEmpty)
        #expect(try YAMLTree.parse("# nothing\n").documents.isEmpty)
        let documents = try YAMLTree.parse("a: 1\n---\n---\nb\n...\n").documents
        #expect(documents.count == 3)
        #expect(documents[1].isNull)
        #expect(documents[2].string == "b")
    }

    @Test func aliasesShareTheAnchoredNodeAcrossDocuments() throws {
        let documents = try YAMLTree.parse("a: &x {k: v}\nb: *x\n---\nc: *x\n").documents
        let first = documents[0].pairs
        #expect(first[1].value.mark == first[0].value.mark, "the alias is the anchored node")
        #expect(documents[1].pairs[0].value.pairs.first?.value.string == "v")
    }

    @Test func undefinedAndRecursiveAliasesAreComposerErrors() {
        for text in ["a: *nowhere\n", "a: &x [*x]\n"] {
            let error = #expect(throws: YAMLError.self) { try YAMLTree.parse(text) }
            #expect(error?.stage == .composer)
            #expect(error?.problem == "found undefined alias")
        }
    }

    /// Nine levels of nine aliases would expand to about 10⁹ nodes: an error at the alias that passes
    /// the bound, not a walk through a billion nodes.
    @Test func anAliasBombIsAnError() throws {
        var text = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            text += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        let error = #expect(throws: YAMLError.self) { try YAMLTree.parse(text) }
        #expect(error?.stage == .composer)
        #expect(error?.problem == "aliases expand to more than \(YAMLTree.maxAliasExpansion) nodes")
        #expect(error?.mark.line == 7)
        // Many aliases of a small node are fine.
        let many = "base: &b {a: 1}\nlist: [" + Array(repeating: "*b", count: 10_000).joined(separator: ", ") + "]\n"
        #expect(try YAMLTree.parse(many).documents[0].pairs[1].value.items.count == 10_000)
    }

    /// The tree is built without recursion: nesting deeper than overflowed Yams' recursive composer
    /// (about 6,000 levels) is fine here. Weir bounds nesting before libyaml sees the text
    /// (`YAMLNesting`), also because libyaml's time grows with the square of the flow depth.
    @Test func deepNestingDoesNotOverflowTheStack() throws {
        let depth = 10_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var node = try #require(try YAMLTree.parse(text).documents.first)
        var levels = 1
        while let inner = node.items.first {
            node = inner
            levels += 1
        }
        #expect(levels == depth)
    }

    @Test func syntaxErrorsCarryLibyamlsTextAndPosition() {
        let error = #expect(throws: YAMLError.self) { try YAMLTree.parse("a: \"open\nb: 1\n") }
        #expect(error?.stage == .scanner)
        #expect(error?.context == "while scanning a quoted scalar")
        #expect(error?.problem == "found unexpected end of stream")
        #expect(error?.mark == YAMLMark(line: 3, column: 1))
        #expect(error?.contextMark == YAMLMark(line: 1, column: 4))
    }

    @Test func controlCharactersAreReaderErrorsWithTheirOffset() {
        let error = #expect(throws: YAMLError.self) { try YAMLTree.parse("a: b\nc: d\u{7}\n") }
        #expect(error?.stage == .reader)
        #expect(error?.problem == "control characters are not allowed")
        #expect(error?.offset == 9)
        #expect(error?.value == 7)
    }
}
