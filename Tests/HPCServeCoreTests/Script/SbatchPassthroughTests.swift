import HPCServeTemplates
import Testing

@testable import HPCServeCore

@Suite struct SbatchPassthroughTests {
    @Test func longAndShortOptionsBecomeLongSpellings() throws {
        let out = try SbatchPassthrough.parse([
            "--ntasks-per-node=2", "-n", "4", "-w", "node01", "--mail-type=END,FAIL", "--hold", "-x", "node[02-04]",
        ])
        #expect(
            out == [
                "--ntasks-per-node=2", "--ntasks=4", "--nodelist=node01", "--mail-type=END,FAIL", "--hold",
                "--exclude=node[02-04]",
            ])
    }

    @Test(arguments: [
        "--output=x", "-o", "--error=/tmp/x", "--signal=B:USR1@60", "--exclusive", "--wrap=id", "--uid=0",
    ])
    func optionsHpcserveOwnsAreRefused(_ word: String) {
        #expect(throws: UsageError.self) { try SbatchPassthrough.parse([word, "x"]) }
    }

    /// Issue 13, finding 4: a second --nodes or --time line would win over hpcserve's own.
    @Test(arguments: [
        ("--nodes=8", "one node"), ("-N", "one node"), ("--time=99", "use its option -t/--time"), ("-t", "-t/--time"),
        ("--partition=x", "-p/--partition"), ("-p", "-p/--partition"), ("--job-name=x", "-J/--job-name"),
        ("-J", "-J/--job-name"),
        ("--account=x", "-A/--account"), ("-A", "-A/--account"), ("--qos=x", "-q/--qos"),
        ("--cpus-per-task=2", "-c/--cpus-per-task"),
        ("-c", "-c/--cpus-per-task"), ("--mem=1G", "--mem SIZE"), ("--gpus=1", "-G/--gpus"), ("-G", "-G/--gpus"),
        ("--gres=gpu:1", "--gres"),
        ("--constraint=x", "-C/--constraint"), ("-C", "-C/--constraint"), ("--reservation=r", "--reservation NAME"),
        ("--exclusive", "--shared"), ("--signal=USR1", "--signal"), ("--output=/tmp/x", "session directory"),
        ("--error=x", "session directory"),
    ])
    func optionsHpcserveWritesPointToItsOwnOption(_ word: String, _ advice: String) {
        do {
            _ = try SbatchPassthrough.parse([word, "1"])
            Issue.record("\(word) was passed through")
        } catch {
            #expect("\(error)".contains("cannot be passed through"), "\(error)")
            #expect("\(error)".contains(advice), "\(error)")
        }
    }

    @Test func theReportedOverrideIsRefused() async {
        let result = await runCLI(["script", "jupyter", "-t", "1", "--", "--nodes=8", "--ntasks=64", "--time=99"])
        #expect(result.code == .usage)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("--nodes"), "\(result.stderr)")
    }

    @Test func ntasksBelongsToParaViewsRanks() throws {
        #expect(try SbatchPassthrough.parse(["--ntasks=4"], app: Apps.jupyter) == ["--ntasks=4"])
        for words in [["--ntasks=4"], ["-n", "4"], ["-n4"]] {
            do {
                _ = try SbatchPassthrough.parse(words, app: Apps.paraview)
                Issue.record("\(words) passed through for ParaView")
            } catch {
                #expect("\(error)".contains("use --ranks N instead"), "\(error)")
            }
        }
    }

    @Test(arguments: [
        "--export=BASH_ENV=/tmp/x", "--export=ALL,BASH_ENV=/tmp/x", "--export=ENV=/tmp/x",
        "--export=NONE,LD_PRELOAD=/tmp/x.so",
        "--export=LD_LIBRARY_PATH=/tmp", "--export=ALL,LD_AUDIT=/x", "--export=SHELLOPTS=xtrace", "--export=BASHOPTS=x",
        "--export=BASH_FUNC_x%%=x", "--export=BASH_ENV", "--export=A=1,ENV=/x",
    ])
    func exportsThatRunCodeAreRefused(_ word: String) {
        #expect(throws: UsageError.self) { try SbatchPassthrough.parse([word]) }
    }

    @Test func plainExportsPass() throws {
        #expect(
            try SbatchPassthrough.parse(["--export=ALL,OMP_NUM_THREADS=4,MY_ENV=x"]) == [
                "--export=ALL,OMP_NUM_THREADS=4,MY_ENV=x"
            ])
        #expect(try SbatchPassthrough.parse(["--export=NONE"]) == ["--export=NONE"])
    }

    @Test func typosGetASuggestion() {
        do {
            _ = try SbatchPassthrough.parse(["--ntask=4"])
            Issue.record("accepted a typo")
        } catch {
            #expect(String(describing: error).contains("did you mean --ntasks?"))
        }
    }

    @Test(arguments: [
        "--comment=a b", "--comment=$(id)", "--comment=`id`", "--comment='x'", "--mail-user=a;b", "node01",
        "--comment=#x",
    ])
    func unsafeValuesOrNonOptionsAreRefused(_ word: String) {
        #expect(throws: UsageError.self) { try SbatchPassthrough.parse([word]) }
    }
}

@Suite struct TemplateEngineTests {
    /// The engine's own scan and trim (no Foundation): placeholders next to non-ASCII text,
    /// spaces and tabs (also U+00A0) inside the braces, a needle at the very end, and near misses.
    @Test func placeholdersAmongNonASCIIAndSpacesAreFound() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let text = "é{{X}}ü\n{{ \tX\u{A0} }}\n{{if A}}\n→ {{X}}\n{{else}}\nno\n{{end}}\n{ {X} }{{X}}"
        try text.write(toFile: dir.file("u.sh"), atomically: true, encoding: .utf8)
        let source = TemplateSource(overrideDirectory: dir.path)
        #expect(
            try TemplateEngine.render("u.sh", values: ["X": "1"], conditions: ["A": true], source: source)
                == "é1ü\n1\n→ 1\n{ {X} }1")
        #expect(TemplateEngine.firstRange(of: "}}", in: "ab}") == nil)
        #expect(TemplateEngine.firstRange(of: "{{", in: "") == nil)
        let s: Substring = "ü}}"
        #expect(TemplateEngine.firstRange(of: "}}", in: s).map { String(s[$0]) } == "}}")
        #expect(TemplateEngine.trimmed(" \t\u{A0}") == "")
        #expect(TemplateEngine.trimmed("\u{2003}a b\t") == "a b")
    }

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
