import Testing
import WeirCore

@testable import WeirRules

@Suite struct TemplateTests {
    @Test func rendersColumnsStringsRawAndOthersAsJSON() throws {
        let t = try Template("alerts/${site}/${ device }/${n}")
        #expect(t.columns == ["site", "device", "n"])
        let row: JSONObject = ["site": "s1", "device": "d-9", "n": 3]
        #expect(try t.render(row) == "alerts/s1/d-9/3")
    }

    @Test func missingOrNullColumnIsAnError() throws {
        let t = try Template("a/${x}")
        #expect(throws: Template.RenderError.self) { try t.render([:]) }
        #expect(throws: Template.RenderError.self) { try t.render(["x": nil]) }
    }

    @Test func syntaxErrorsHaveOffsets() {
        #expect { try Template("ab/${open") } throws: { ($0 as? TemplateSyntaxError)?.offset == 3 }
        #expect { try Template("${}") } throws: { ($0 as? TemplateSyntaxError)?.offset == 0 }
    }

    @Test func dollarWithoutBraceIsLiteral() throws {
        #expect(try Template("$SYS/x").render([:]) == "$SYS/x")
    }
}
