import Foundation
import Testing

@testable import HPCServeCore

typealias Shell = CompletionsCommand.Shell

/// `hpcserve completions SHELL` comes from the command table; share/completions holds the same.
@Suite(.tags(.shell)) struct CompletionsTests {
    static let shipped = repositoryRoot + "/share/completions/"

    /// The shipped file equals the generated script (HPCSERVE_RECORD=1 writes it instead).
    @Test(arguments: Shell.allCases)
    func theShippedFileIsTheGeneratedScript(_ shell: Shell) async throws {
        let result = await runCLI(["completions", shell.rawValue])
        #expect(result.code == .success && result.stderr.isEmpty)
        #expect(result.stdout == shell.script)
        let path = Self.shipped + shell.fileName
        if ProcessInfo.processInfo.environment["HPCSERVE_RECORD"] == "1" {
            try shell.script.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let file = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            file == shell.script,
            """
            share/completions/\(shell.fileName) differs from 'hpcserve completions \(shell.rawValue)'; \
            re-record with HPCSERVE_RECORD=1 swift test and review the diff
            """)
    }

    /// `bash -n`, `zsh -n`, `fish -n` accept it (and shellcheck the bash one).
    @Test(arguments: Shell.allCases)
    func theShellAcceptsTheScript(_ shell: Shell) throws {
        guard which(shell.rawValue) != nil else {
            Issue.record("\(shell.rawValue) is not installed (apt-get install zsh fish); Tests/Cluster/up installs it")
            return
        }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file(shell.fileName)
        try shell.script.write(toFile: path, atomically: true, encoding: .utf8)
        let syntax = try runProgram([shell.rawValue, "-n", path])
        #expect(syntax.status == 0 && syntax.output.isEmpty, "\(shell.rawValue) -n: \(syntax.output)")
        if shell == .bash, which("shellcheck") != nil {
            let lint = try runProgram(["shellcheck", "-s", "bash", "-S", "style", path])
            #expect(lint.status == 0, "shellcheck: \(lint.output)")
        }
    }

    /// Every command, subcommand and option spelling is in each script, as that shell names it.
    @Test(arguments: Shell.allCases)
    func theScriptNamesEveryCommandAndOption(_ shell: Shell) throws {
        let script = shell.script
        let words = Set(script.split { " \n\t'\"()|=+*[:;".contains($0) }.map(String.init))
        func named(_ word: String) -> Bool { words.contains(word) }
        func option(_ name: String) -> Bool {
            guard shell == .fish else { return named(name) }
            return name.hasPrefix("--")
                ? script.contains(" -l \(name.dropFirst(2)) ") : script.contains(" -s \(name.dropFirst()) ")
        }
        for command in Commands.all {
            for word in [command.name] + command.aliases where word.hasPrefix("-") ? !option(word) : !named(word) {
                Issue.record("\(shell.rawValue): no command \(word)")
            }
            for sub in command.subcommands where !named(sub.name) {
                Issue.record("\(shell.rawValue): no \(command.name) \(sub.name)")
            }
        }
        for (path, command) in Commands.leaves {
            for name in command.options.flatMap(\.names) where !option(name) {
                Issue.record("\(shell.rawValue): \(path.joined(separator: " ")) \(name) is missing")
            }
        }
    }

    /// What bash offers, from the real completion function.
    @Test(arguments: [
        (["hpcserve", "scr"], ["script"]),
        (["hpcserve", "script", "j"], ["jupyter"]),
        (["hpcserve", "script", "jupyter", "--li"], ["--listen"]),
        (["hpcserve", "script", "jupyter", "--listen", ""], ["socket", "tcp"]),
        (["hpcserve", "script", "paraview", "--ra"], ["--ranks"]),
        (["hpcserve", "jupyter", "--cl"], ["--classic"]),
        (["hpcserve", "jupyter", "--det"], ["--detach"]),
        (["hpcserve", "snippet", "license", "--vendor"], ["--vendor-port"]),
        (["hpcserve", "completions", ""], ["bash", "fish", "zsh"]),
        (["hpcserve", "help", "sn"], ["snippet"]),
        (["hpcserve", "script", "jupyter", "--time", ""], []),
        (["hpcserve", "script", "jupyter", "--", "--ti"], []),
    ])
    func bashOffers(_ words: [String], _ expected: [String]) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("hpcserve.bash")
        try Shell.bash.script.write(toFile: path, atomically: true, encoding: .utf8)
        let quoted = words.map(ShellQuote.quote).map { $0.isEmpty ? "''" : $0 }.joined(separator: " ")
        let line =
            "source \"$1\"; COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); _hpcserve; "
            + "printf '%s\\n' \"${COMPREPLY[@]}\""
        let result = try runProgram(["bash", "-c", line, "_", path])
        #expect(result.status == 0, "\(result.output)")
        let offered = result.output.split(separator: "\n").map(String.init).sorted()
        #expect(offered == expected, "\(words): \(result.output)")
    }

    /// What fish offers, from `complete -C`.
    @Test func fishOffers() throws {
        guard which("fish") != nil else {
            Issue.record("fish is not installed")
            return
        }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("hpcserve.fish")
        try Shell.fish.script.write(toFile: path, atomically: true, encoding: .utf8)
        let cases = [
            ("hpcserve script jupyter --li", "--listen"), ("hpcserve snip", "snippet"),
            ("hpcserve script paraview --listen ", "tcp"), ("hpcserve snippet ", "reverse-tunnel"),
        ]
        for (line, expected) in cases {
            let result = try runProgram(["fish", "-N", "-c", "source $argv[1]; complete -C $argv[2]", path, line])
            let offered = result.output.split(separator: "\n").map { String($0.prefix { $0 != "\t" }) }
            #expect(offered.contains(expected), "\(line): \(result.output)")
        }
    }
}
