import Foundation
import Testing
@testable import HPCServeCore

/// Feeds hostile values to every option and proves each either gets a one-line usage error
/// or lands in a script that stays valid and never runs it (a canary file must never appear).
@Suite(.tags(.shell)) struct HostileInputTests {
    static func hostileValues(canary: String) -> [String] {
        [
            "; touch \(canary)", "$(touch \(canary))", "`touch \(canary)`", "x' ; touch \(canary) ; '",
            "x\" ; touch \(canary) ; \"", "x\ntouch \(canary)", "x\u{0}y", String(repeating: "A", count: 100_000),
            "--exclusive", "-x", "x y", "x\\", "$HOME", "x#y", "x|touch \(canary)", "x&touch \(canary)",
            ">\(canary)", "../../etc/passwd", "*", "~root",
        ]
    }

    /// Options that take a value and reach the script (not --setup: trusted code by design).
    static func valueOptions(_ app: AppProfile) -> [String] {
        (ScriptCommand.jobOptions.map { ($0.key, $0.valueName) } + app.options.map { ($0.names[0], $0.valueName) })
            .filter { $0.1 != nil && !["--setup", "--template"].contains($0.0) }
            .map(\.0)
    }

    @Test(arguments: Apps.all.map(\.name))
    func hostileValuesNeverReachAScriptUnquoted(_ appName: String) throws {
        let app = try #require(Apps.named(appName))
        let sandbox = try StubSandbox()
        defer { sandbox.cleanup() }
        var accepted: Set<String> = []
        var attempts: [[String]] = []
        for value in Self.hostileValues(canary: sandbox.canary) {
            attempts += Self.valueOptions(app).map { [appName, $0, value] }
            attempts += [[appName, "--", "--comment=\(value)"], [appName, "--", value], [appName, "--", "-w", value]]
        }
        for words in attempts {
            do {
                accepted.insert(try renderScript(words, home: sandbox.home))
            } catch let error as any UserFacingError {
                let message = error.description
                #expect(!message.contains("\n"), "\(words): multi-line error")
                #expect(message.count < 400, "\(words): error too long")
                #expect(error.exitCode == .usage)
            }
        }
        #expect(accepted.count < attempts.count / 4, "most hostile values must be refused")
        // Whatever was accepted must be valid bash that runs without ever touching the canary.
        for text in accepted {
            try sandbox.runScript(text)
        }
        #expect(!FileManager.default.fileExists(atPath: sandbox.canary), "a hostile value was executed")
    }

    @Test func hostileOptionValuesThroughTheCLIGiveExit64AndNoOutput() async throws {
        for value in ["$(id)", "a;b", "x\ny", "`id`"] {
            for option in ["--partition", "--job-name", "--module", "--time", "--mem", "--constraint"] {
                let result = await runCLI(["script", "jupyter", option, value], home: "/nonexistent-home")
                #expect(result.code == .usage, "\(option) \(value)")
                #expect(result.stdout.isEmpty)
                #expect(result.stderr.split(separator: "\n").count == 1)
            }
        }
    }

    @Test func snippetsRejectHostileValues() throws {
        let sandbox = try StubSandbox()
        defer { sandbox.cleanup() }
        for value in Self.hostileValues(canary: sandbox.canary) {
            for (kind, options) in [("license", ["--gateway", "--server", "--port", "--env", "--vendor-port", "--port-range", "--attempts"]),
                                    ("reverse-tunnel", ["--port", "--host", "--insecure-tcp-port", "--laptop-port"])] {
                for option in options {
                    var words = kind == "license"
                        ? ["--gateway", "gw", "--server", "lic", "--port", "27000"] : ["--port", "8888"]
                    if let i = words.firstIndex(of: option) { words.remove(at: i); words.remove(at: i) }
                    words += [option, value]
                    let specs = kind == "license" ? SnippetCommand.licenseOptions : SnippetCommand.reverseOptions
                    #expect(throws: (any Error).self, "\(kind) \(option) \(Validate.show(value))") {
                        let parsed = try ArgumentReader.read(words, options: specs, command: kind)
                        _ = kind == "license" ? try SnippetCommand.license(parsed) : try SnippetCommand.reverseTunnel(parsed)
                    }
                }
            }
        }
    }

    @Test func aHostileSocketPathAppearsOnlyQuoted() throws {
        let sandbox = try StubSandbox()
        defer { sandbox.cleanup() }
        let path = sandbox.home + "/x y'$(touch CANARY)`touch CANARY`.sock"   // relative to the job's cwd
        let parsed = try ArgumentReader.read(["--port", "8888", "--socket", path], options: SnippetCommand.reverseOptions, command: "reverse-tunnel")
        let text = try SnippetCommand.reverseTunnel(parsed)
        try expectValidBash(text, "reverse-tunnel with a hostile socket path", severity: "warning")
        try sandbox.runSnippet(text)
        #expect(!FileManager.default.fileExists(atPath: sandbox.canary))
    }
}

/// A temporary HOME with stub commands first on PATH: servers that exit at once, a curl that
/// says 200, an ssh that succeeds, `module` and `srun` that do nothing harmful.
struct StubSandbox {
    let dir: TempDir
    var home: String { dir.path + "/home" }
    var bin: String { dir.path + "/bin" }
    var canary: String { dir.path + "/CANARY" }

    init() throws {
        dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/bin", withIntermediateDirectories: true)
        let stubs = [
            "jupyter": "sleep 0.2", "rserver": "sleep 0.2", "pvserver": "sleep 0.2",
            "curl": "echo 200", "ssh": "exit 0", "module": "exit 0", "srun": "sleep 0.2",
        ]
        for (name, body) in stubs {
            try writeExecutable(dir.path + "/bin/" + name, "#!/bin/bash\n\(body)\n")
        }
    }

    func cleanup() { dir.cleanup() }

    var environment: [String: String] {
        ["HOME": home, "PATH": bin + ":/usr/bin:/bin", "SLURM_JOB_ID": "4242", "SLURM_SUBMIT_HOST": "login",
         "SLURMD_NODENAME": "node01", "USER": ProcessInfo.processInfo.environment["USER"] ?? "root"]
    }

    func runScript(_ text: String) throws {
        try expectValidBash(text, "hostile-input script", severity: "warning")
        let path = dir.file("job.sh")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        _ = try runProgram(["timeout", "30", "bash", path], environment: environment, cwd: dir.path)
    }

    func runSnippet(_ text: String) throws {
        let path = dir.file("snippet.sh")
        try ("#!/bin/bash\nset -euo pipefail\n" + text).write(toFile: path, atomically: true, encoding: .utf8)
        _ = try runProgram(["timeout", "30", "bash", path], environment: environment, cwd: dir.path)
    }
}
