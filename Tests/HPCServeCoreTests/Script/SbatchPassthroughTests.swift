import Testing
@testable import HPCServeCore
import HPCServeTemplates

@Suite struct SbatchPassthroughTests {
    @Test func longAndShortOptionsBecomeLongSpellings() throws {
        let out = try SbatchPassthrough.parse(["--nodes=1", "-n", "4", "-w", "node01", "--mail-type=END,FAIL", "--hold", "-x", "node[02-04]"])
        #expect(out == ["--nodes=1", "--ntasks=4", "--nodelist=node01", "--mail-type=END,FAIL", "--hold", "--exclude=node[02-04]"])
    }

    @Test(arguments: ["--output=x", "-o", "--error=/tmp/x", "--signal=B:USR1@60", "--exclusive", "--wrap=id", "--uid=0"])
    func optionsHpcserveOwnsAreRefused(_ word: String) {
        #expect(throws: UsageError.self) { try SbatchPassthrough.parse([word, "x"]) }
    }

    @Test func typosGetASuggestion() {
        do {
            _ = try SbatchPassthrough.parse(["--ntask=4"])
            Issue.record("accepted a typo")
        } catch {
            #expect(String(describing: error).contains("did you mean --ntasks?"))
        }
    }

    @Test(arguments: ["--comment=a b", "--comment=$(id)", "--comment=`id`", "--comment='x'", "--mail-user=a;b", "node01", "--comment=#x"])
    func unsafeValuesOrNonOptionsAreRefused(_ word: String) {
        #expect(throws: UsageError.self) { try SbatchPassthrough.parse([word]) }
    }
}

@Suite struct TemplateEngineTests {
    @Test func unknownPlaceholderInAnOverrideIsAnError() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try "#!/bin/bash\n{{NOPE}}\n".write(toFile: dir.file("jupyter.sh"), atomically: true, encoding: .utf8)
        let source = TemplateSource(overrideDirectory: dir.path)
        #expect(throws: TemplateError.unknownPlaceholder(name: "NOPE", template: "jupyter.sh")) {
            try TemplateEngine.render("jupyter.sh", values: [:], source: source)
        }
    }

    @Test func includesAreExpandedAndLoopsStop() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try "a\n{{include b.sh}}\nc {{X}}\n".write(toFile: dir.file("a.sh"), atomically: true, encoding: .utf8)
        try "b {{X}}\n".write(toFile: dir.file("b.sh"), atomically: true, encoding: .utf8)
        try "{{include loop.sh}}\n".write(toFile: dir.file("loop.sh"), atomically: true, encoding: .utf8)
        let source = TemplateSource(overrideDirectory: dir.path)
        #expect(try TemplateEngine.render("a.sh", values: ["X": "1"], source: source) == "a\nb 1\nc 1\n")
        #expect(throws: TemplateError.includeTooDeep(template: "loop.sh")) {
            try TemplateEngine.render("loop.sh", values: [:], source: source)
        }
    }

    @Test func everyEmbeddedTemplateIsThereAndEveryIncludeNamesOne() throws {
        for name in EmbeddedTemplates.names {
            let text = try TemplateSource().text(named: name)
            #expect(!text.isEmpty, "\(name)")
            for line in text.split(separator: "\n") where line.hasPrefix("{{include ") {
                let included = line.dropFirst("{{include ".count).dropLast(2)
                #expect(EmbeddedTemplates.names.contains(String(included)), "\(name) includes \(included)")
            }
        }
        for app in Apps.all { #expect(EmbeddedTemplates.names.contains(app.templateName)) }
    }
}
