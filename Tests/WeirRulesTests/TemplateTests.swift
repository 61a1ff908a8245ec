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

    /// Values from devices cannot take a topic out of its template (issue 11).
    @Test func aTopicValueCannotLeaveItsTemplate() throws {
        let alerts = try Template("alerts/${device}/hot")
        #expect(try alerts.renderTopic(["device": "valve-7"]) == "alerts/valve-7/hot")
        #expect(try alerts.renderTopic(["device": "valve-7/cmd"]) == "alerts/valve-7/cmd/hot", "a '/' adds levels, as documented")
        #expect(try alerts.renderTopic(["device": 42]) == "alerts/42/hot")
        for bad in ["evil\u{0}x", "a+b", "#", "x/#"] {
            #expect(throws: Template.RenderError.self) { try alerts.renderTopic(["device": .string(bad)]) }
            #expect((try? alerts.render(["device": .string(bad)])) != nil, "render (logs, headers) keeps them")
        }
        let leading = try Template("${device}/hot")
        #expect(throws: Template.RenderError.self) { try leading.renderTopic(["device": "$SYS/broker"]) }
        #expect(try leading.renderTopic(["device": "a$b"]) == "a$b/hot")
        let system = try Template("$weir/${device}")
        #expect(try system.renderTopic(["device": "d1"]) == "$weir/d1", "the template's own '$' is allowed")
        do {
            _ = try alerts.renderTopic(["device": "evil\u{0}x"])
        } catch {
            #expect(error.refusedTopic && error.description.contains("contains NUL"))
        }
        do {
            _ = try alerts.renderTopic([:])
        } catch {
            #expect(!error.refusedTopic, "a missing column is not a refused topic")
        }
    }

    @Test func syntaxErrorsHaveOffsets() {
        #expect { try Template("ab/${open") } throws: { ($0 as? TemplateSyntaxError)?.offset == 3 }
        #expect { try Template("${}") } throws: { ($0 as? TemplateSyntaxError)?.offset == 0 }
    }

    @Test func dollarWithoutBraceIsLiteral() throws {
        #expect(try Template("$SYS/x").render([:]) == "$SYS/x")
    }
}
