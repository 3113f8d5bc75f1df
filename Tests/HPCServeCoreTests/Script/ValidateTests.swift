import Testing

@testable import HPCServeCore

@Suite struct ValidateTests {
    @Test(arguments: ["90", "30:00", "2:00:00", "1-12", "1-12:30", "2-00:00:00", "UNLIMITED", "infinite", "0:30"])
    func acceptsEverySlurmTimeFormat(_ value: String) throws {
        _ = try Validate.time(value)
    }

    @Test(arguments: [
        "", "2h", "1:2:3:4", "1-2-3", "-5", "1-", ":30", "1:", "0", "0:00", "1 0", "9999999",
        "2:00:00; rm -rf ~", "$(id)", "1\n2", "1-2:3:4:5",
    ])
    func rejectsAnythingElse(_ value: String) {
        #expect(throws: UsageError.self) { try Validate.time(value) }
    }

    @Test(arguments: [
        ("90", 90), ("30:00", 30), ("2:00:00", 120), ("1-12", 2160), ("1-12:30", 2190),
        ("0-0:0:1", 1), ("1:01", 2), ("1-00:00:00", 1440),
    ])
    func minutesFollowSbatchRules(_ value: String, _ expected: Int) throws {
        #expect(try Validate.minutes(value) == expected)
    }

    @Test func unlimitedHasNoMinutes() throws {
        #expect(try Validate.minutes("UNLIMITED") == nil)
    }

    @Test(arguments: ["16G", "500", "1t", "64000M"])
    func memoryAccepted(_ value: String) throws { _ = try Validate.memory(value) }

    @Test(arguments: ["16GB", "G", "-1G", "1.5G", "16 G", "$MEM"])
    func memoryRejected(_ value: String) {
        #expect(throws: UsageError.self) { try Validate.memory(value) }
    }

    @Test(arguments: ["1", "a100:2", "a100:1,v100:2"])
    func gpusAccepted(_ value: String) throws { _ = try Validate.gpus(value) }

    @Test(arguments: ["a100", "a100:", "2;id", "-1", "a100:x"])
    func gpusRejected(_ value: String) {
        #expect(throws: UsageError.self) { try Validate.gpus(value) }
    }

    @Test(arguments: ["python/3.11", "anaconda3/2023.09-0", "R/4.4.1-foss-2023b", "gcc@12"])
    func moduleNamesAccepted(_ value: String) throws { _ = try Validate.module(value) }

    @Test(arguments: ["python 3", "--help", "x;id", "$(id)", "a`b`", "a'b", "a\"b", "x\ny"])
    func moduleNamesRejected(_ value: String) {
        #expect(throws: UsageError.self) { try Validate.module(value) }
    }

    @Test(arguments: ["-oProxyCommand=id", "gw;id", "gw host", "", "gw\n"])
    func hostsThatCouldBeOptionsOrCodeAreRejected(_ value: String) {
        #expect(throws: UsageError.self) { try Validate.host(value, option: "--gateway") }
    }

    @Test func portsAndRanges() throws {
        #expect(try Validate.port("27000", option: "--port") == 27000)
        #expect(throws: UsageError.self) { try Validate.port("0", option: "--port") }
        #expect(throws: UsageError.self) { try Validate.port("65536", option: "--port") }
        #expect(throws: UsageError.self) { try Validate.port("+80", option: "--port") }
        #expect(try Validate.portRange("20000-20010", option: "--port-range") == 20000...20010)
        #expect(throws: UsageError.self) { try Validate.portRange("30-20", option: "--port-range") }
        #expect(throws: UsageError.self) { try Validate.portRange("20000", option: "--port-range") }
    }

    /// Issue 13, finding 5: `snippet license --env NAME` exported PORT@localhost into any name.
    @Test(arguments: [
        "PATH", "IFS", "BASH_ENV", "ENV", "LD_PRELOAD", "LD_LIBRARY_PATH", "HOME", "SHELL", "PS4", "SHELLOPTS",
        "BASHOPTS", "PROMPT_COMMAND", "TMPDIR", "LC_ALL", "LANG", "SLURM_JOB_ID", "HPCSERVE_DIR", "BASH_FUNC_X",
        "lm_license_file", "_X", "1X", "A-B", "A B", "A=B", "X\u{301}", "LM_LICENSE_FILE\u{200D}", "",
    ])
    func licenseVariablesOnly(_ name: String) {
        do {
            _ = try Validate.licenseVariable(name)
            Issue.record("accepted \(Validate.show(name))")
        } catch {
            if !name.isEmpty {
                #expect("\(error)".contains("LM_LICENSE_FILE, MLM_LICENSE_FILE"), "the usual ones are shown: \(error)")
            }
        }
    }

    @Test(arguments: [
        "LM_LICENSE_FILE", "MLM_LICENSE_FILE", "ANSYSLMD_LICENSE_FILE", "ANSYSLI_SERVERS", "CDLMD_LICENSE_FILE",
        "RLM_LICENSE", "X2",
    ])
    func licenseVariablesAccepted(_ name: String) throws {
        #expect(try Validate.licenseVariable(name) == name)
    }

    @Test func controlCharactersAndHugeValuesAreRejectedEverywhere() {
        #expect(throws: UsageError.self) { try Validate.setupLine("a\nb") }
        #expect(throws: UsageError.self) { try Validate.setupLine("a\u{0}b") }
        #expect(throws: UsageError.self) { try Validate.path(String(repeating: "a", count: 5000), option: "--output") }
    }

    @Test func showEscapesWhatDoesNotPrintAndTheQuotesAroundIt() {
        #expect(Validate.show("x\u{9b}2J\u{202e}evil") == "'x\\u{9b}2J\\u{202e}evil'")
        #expect(Validate.show("\u{1b}[2J\u{7f}") == "'\\x1b[2J\\x7f'")
        #expect(Validate.show("it's a\\b") == "'it\\'s a\\\\b'")
        #expect(Validate.show("=\u{200d}\u{301}\u{2028}\u{a0}") == "'=\\u{200d}\\u{301}\\u{2028}\\u{a0}'")
        #expect(Validate.show("ünï ok") == "'ünï ok'")
        #expect(Validate.show(bytes: Array("out".utf8) + [0xff] + Array(".sh".utf8)) == "'out\\xff.sh'")
        #expect(Validate.show(bytes: [0xe2, 0x80, 0xae, 0xc3]) == "'\\u{202e}\\xc3'")
        #expect(Validate.show(String(repeating: "a", count: 100)).hasSuffix("a…'"))
        #expect(Validate.escapeNonPrinting("ok: \u{1b}]0;x\u{7}") == "ok: \\x1b]0;x\\x07")
    }

    @Test(arguments: ["\u{9b}", "\u{85}", "\u{202e}", "\u{2066}", "\u{200f}", "\u{2028}", "\u{1b}"])
    func controlAndBidiCharactersAreRefusedInEveryValue(_ c: String) {
        #expect(throws: UsageError.self) { try Validate.basic("a\(c)b", option: "--x") }
        #expect(throws: UsageError.self) { try Validate.setupLine("echo \(c)") }
    }

    @Test func errorMessagesShowHostileValuesSafelyOnOneLine() {
        do {
            _ = try Validate.time("1\n$(rm -rf ~)")
            Issue.record("accepted")
        } catch {
            let text = String(describing: error)
            #expect(!text.contains("\n"))
            #expect(text.contains("\\n"))
        }
    }
}

@Suite struct ShellQuoteTests {
    static let hostile = [
        "", "plain", "with space", "it's", "'", "''", "\"", "$(touch canary)", "`touch canary`",
        "; touch canary", "a\\b", "$HOME", "!!", "*", "~", "#x", "tab\there", "new\nline", "ünïcödé", "a'b\"c$d`e",
        "e\u{301}", "\u{301}x", "=\u{200d}", "\u{202e}evil", "x\u{9b}2J", "\u{1b}[2J'\\", "a\u{2028}b", "\u{a0}",
    ]

    @Test(.tags(.shell), arguments: hostile)
    func bashReadsBackExactlyTheValue(_ value: String) throws {
        let quoted = ShellQuote.quote(value)
        let result = try runProgram(["bash", "-c", "printf '%s' " + quoted])
        #expect(result.status == 0)
        #expect(result.output == value)
    }

    @Test func whatDoesNotPrintIsWrittenAsBytesThatPrint() {
        #expect(ShellQuote.quote("x\u{202e}y'z") == "$'x\\xe2\\x80\\xaey\\'z'")
        #expect(ShellQuote.quote("é") == "'é'")
        #expect(ShellQuote.quote("e\u{301}") == "$'e\\xcc\\x81'")
        for value in ShellQuoteTests.hostile {
            #expect(ShellQuote.quote(value).unicodeScalars.allSatisfy(Validate.isPrinting), "\(Validate.show(value))")
        }
    }

    @Test func plainWordsStayReadable() {
        #expect(ShellQuote.quote("python/3.11") == "python/3.11")
        #expect(ShellQuote.quote("") == "''")
        #expect(ShellQuote.quote("it's") == "'it'\\''s'")
    }
}
