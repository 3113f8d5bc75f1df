import Foundation
import Testing

@testable import HPCServeCore

/// `{{if NAME}}`, `{{else}}` and `{{end}}`: whole-line conditions that keep a part of a template
/// only in the scripts whose job uses it.
@Suite struct TemplateConditionTests {
    /// Renders `text` as template `t.sh` from a temporary override directory.
    func render(
        _ text: String, _ conditions: [String: Bool], values: [String: String] = [:],
        more: [String: String] = [:]
    ) throws -> String {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for (name, body) in more.merging(["t.sh": text], uniquingKeysWith: { $1 }) {
            try body.write(toFile: dir.file(name), atomically: true, encoding: .utf8)
        }
        return try TemplateEngine.render(
            "t.sh", values: values, conditions: conditions,
            source: TemplateSource(overrideDirectory: dir.path))
    }

    @Test func ifElseAndNotKeepOnlyTheChosenLines() throws {
        let text = "a\n{{if X}}\nx\n{{else}}\nnot x\n{{end}}\n  {{if not X}}\nonly without x\n  {{end}}\nb\n"
        #expect(try render(text, ["X": true]) == "a\nx\nb\n")
        #expect(try render(text, ["X": false]) == "a\nnot x\nonly without x\nb\n")
    }

    @Test func conditionsNestAndReachIncludedTemplates() throws {
        let text = "{{if A}}\na\n{{if B}}\n{{include part.sh}}\n{{end}}\n{{end}}\nend\n"
        let part = "{{if not A}}\nnever\n{{else}}\npart {{V}}\n{{end}}\n"
        #expect(
            try render(text, ["A": true, "B": true], values: ["V": "1"], more: ["part.sh": part]) == "a\npart 1\nend\n")
        #expect(try render(text, ["A": true, "B": false], values: ["V": "1"], more: ["part.sh": part]) == "a\nend\n")
        #expect(try render(text, ["A": false, "B": true], values: ["V": "1"], more: ["part.sh": part]) == "end\n")
    }

    @Test func aValueIsNeverReadAsACondition() throws {
        // The user's setup lines are a value: "{{end}}" or "{{if X}}" in them is plain text.
        #expect(
            try render("{{V}}\n{{if X}}\nx\n{{end}}\n", ["X": false], values: ["V": "{{if X}}\n{{end}}"])
                == "{{if X}}\n{{end}}\n")
    }

    @Test func anUnknownConditionIsAnError() {
        #expect(throws: TemplateError.unknownCondition(name: "TPC", template: "t.sh")) {
            try render("{{if TPC}}\nx\n{{end}}\n", ["TCP": true])
        }
    }

    @Test(arguments: [
        "{{if X}}\nx\n",  // no end
        "x\n{{end}}\n",  // end without if
        "{{else}}\nx\n",  // else without if
        "{{if X}}\n{{else}}\n{{else}}\n{{end}}\n",
        "echo {{if X}} x\n{{end}}\n",  // not alone on its line
        "echo {{end}}\n",
    ])
    func aMisplacedConditionIsAnError(_ text: String) {
        #expect(throws: TemplateError.unbalancedCondition(template: "t.sh")) {
            try render(text, ["X": true])
        }
    }

    @Test func theOldCommonTemplateGetsAPointerToItsSuccessor() {
        let message = TemplateError.notFound("common.sh").description
        #expect(message.contains("runtime.sh") && message.contains("hpcserve_launch"))
        #expect(!message.contains("\n"))
    }
}
