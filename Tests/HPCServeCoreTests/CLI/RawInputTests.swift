import Foundation
import Testing

@testable import HPCServeCore

/// Issue 13, finding 9: bytes that are not UTF-8 were rewritten to U+FFFD, and an environment
/// value starting with a combining mark was dropped. Both are refused, by name.
@Suite struct RawInputTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func anArgumentThatIsNotUTF8IsRefusedAndShown() throws {
        let input = RawInput(
            arguments: [Self.bytes("script"), Self.bytes("-o"), Self.bytes("out") + [0xff] + Self.bytes(".sh")],
            environment: [])
        #expect(throws: UsageError.self) { try input.decodedArguments() }
        do {
            _ = try input.decodedArguments()
        } catch {
            #expect("\(error)".contains("argument 3, 'out\\xff.sh', is not valid UTF-8"), "\(error)")
        }
        let fine = RawInput(arguments: [Self.bytes("--comment=\u{200D}")], environment: [])
        #expect(try fine.decodedArguments() == ["--comment=\u{200D}"])
    }

    @Test func theEnvironmentIsSplitAtTheFirstEqualsByte() {
        let input = RawInput(
            arguments: [],
            environment: [
                Self.bytes("HPCSERVE_DIR=\u{301}/x"), Self.bytes("A=b=c"), Self.bytes("HOME=/h") + [0xff],
                Self.bytes("NOEQUALS"), Self.bytes("A=second"), [0xff] + Self.bytes("=x"),
            ])
        let (values, undecodable) = input.decodedEnvironment()
        #expect(values == ["HPCSERVE_DIR": "\u{301}/x", "A": "b=c"])
        #expect(undecodable == ["HOME": Self.bytes("/h") + [0xff]])
    }

    @Test func aVariableHpcserveCannotUseIsRefusedWithItsName() throws {
        func context(_ env: [String: String], undecodable: [String: [UInt8]] = [:]) -> Context {
            Context(
                environment: env, undecodableEnvironment: undecodable, output: CapturedOutput(),
                workingDirectory: "/tmp")
        }
        for (env, undecodable, name) in [
            (["HPCSERVE_DIR": "\u{301}/tmp/x"], [:], "HPCSERVE_DIR"),
            (["HPCSERVE_DIR": "\u{200D}/tmp/x"], [:], "HPCSERVE_DIR"),
            (["HPCSERVE_DIR": "/tmp/x\u{1b}"], [:], "HPCSERVE_DIR"),
            ([:], ["HPCSERVE_DIR": Self.bytes("/tmp/x") + [0xfe]], "HPCSERVE_DIR"),
            (["HOME": "\u{903}/home/a"], [:], "HOME"),
            ([:], ["HOME": [0xc3]], "HOME"),
        ] as [([String: String], [String: [UInt8]], String)] {
            do {
                _ = try SessionPaths.from(context(env, undecodable: undecodable))
                Issue.record("accepted \(env) \(undecodable)")
            } catch let error as UsageError {
                #expect(error.message.contains("environment variable \(name)"), "\(error)")
            }
        }
        for (env, undecodable) in [(["XDG_CONFIG_HOME": "\u{301}/cfg"], [:]), ([:], ["XDG_CONFIG_HOME": [0x80]])]
            as [([String: String], [String: [UInt8]])]
        {
            #expect(throws: UsageError.self) { try TemplateSource.from(context(env, undecodable: undecodable)) }
        }
        // Unset or empty is not an error; a plain value is used as it is.
        #expect(try SessionPaths.from(context(["HOME": "/home/a", "HPCSERVE_DIR": ""])).root == "/home/a/.hpcserve")
        #expect(try context([:]).variable("XDG_CONFIG_HOME") == nil)
    }

    @Test func theWatchersUserAndLoginHostComeOnlyAsPlainNames() throws {
        let parsed = try ArgumentReader.read([], options: WatchCommand.watchOptions, command: "watch")
        for env in [
            ["USER": "a;touch x"], ["USER": "\u{301}a"], ["HPCSERVE_LOGIN_HOST": "-oProxyCommand=id"],
            ["HPCSERVE_LOGIN_HOST": "h\u{202e}"],
        ] {
            let context = Context(environment: env, output: CapturedOutput(), workingDirectory: "/tmp")
            #expect(throws: UsageError.self, "\(env)") { try WatchCommand.watchSettings(parsed, context: context) }
        }
        let context = Context(
            environment: ["USER": "alice", "HPCSERVE_LOGIN_HOST": "login1.example.org"], output: CapturedOutput(),
            workingDirectory: "/tmp")
        let options = try WatchCommand.watchSettings(parsed, context: context)
        #expect(options.user == "alice" && options.loginHost == "login1.example.org")
    }

    @Test func everyValueOptionRefusesBytesThatAreNotUTF8() async throws {
        try await withHome { home in
            for (command, options) in JoinedSeparatorTests.commands {
                for spec in options where spec.valueName != nil {
                    for name in spec.names {
                        let words =
                            command.map(Self.bytes) + [Self.bytes(name), Self.bytes("a") + [0xff] + Self.bytes("b")]
                        let out = CapturedOutput()
                        let context = Context(environment: ["HOME": home], output: out, workingDirectory: home)
                        let code = await HPCServe.run(rawArguments: words, context: context)
                        #expect(code == .usage, "\(command) \(name)")
                        #expect(
                            out.standardOutput.isEmpty && out.standardError.contains("'a\\xffb', is not valid UTF-8"),
                            "\(out.standardError)")
                    }
                }
            }
            let written = try FileManager.default.contentsOfDirectory(atPath: home)
            #expect(written.isEmpty, "nothing was written")
        }
    }

    @Test func theBuiltBinaryRefusesBytesThatAreNotUTF8AndWritesNothing() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = try runBinary("script jupyter -o $'out\\xff.sh'", environment: "HOME=\(dir.path)", cwd: dir.path)
        #expect(out.status == 64 && out.stdout.isEmpty, "\(out.stderr)")
        #expect(
            out.stderr
                == "hpcserve: error: argument 4, 'out\\xff.sh', is not valid UTF-8; hpcserve takes names, "
                + "values and paths in UTF-8 only\n"
        )
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        for (env, name) in [
            ("HPCSERVE_DIR=$'\\u0301/tmp/x'", "HPCSERVE_DIR"), ("HPCSERVE_DIR=$'/tmp/x\\xff'", "HPCSERVE_DIR"),
            ("HOME=$'\\u0903/home'", "HOME"), ("XDG_CONFIG_HOME=$'\\u0301/cfg'", "XDG_CONFIG_HOME"),
        ] {
            let result = try runBinary("script jupyter", environment: "HOME=\(dir.path) \(env)", cwd: dir.path)
            #expect(result.status == 64 && result.stdout.isEmpty, "\(env): \(result.status) \(result.stderr)")
            #expect(result.stderr.hasPrefix("hpcserve: error: environment variable \(name) "), "\(result.stderr)")
        }
    }
}
