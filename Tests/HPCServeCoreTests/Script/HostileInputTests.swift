import Foundation
import Testing

@testable import HPCServeCore

/// Hostile values at the CLI, in snippets and in a socket path; the full property over every
/// option and a corpus of more than 1,000 values is in HostileInputPropertyTests.
@Suite(.tags(.shell)) struct HostileInputTests {
    static func hostileValues(canary: String) -> [String] {
        [
            "; touch \(canary)", "$(touch \(canary))", "`touch \(canary)`", "x' ; touch \(canary) ; '",
            "x\" ; touch \(canary) ; \"", "x\ntouch \(canary)", "x\u{0}y", String(repeating: "A", count: 100_000),
            "--exclusive", "-x", "x y", "x\\", "$HOME", "x#y", "x|touch \(canary)", "x&touch \(canary)",
            ">\(canary)", "../../etc/passwd", "*", "~root",
        ]
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
            for (kind, options) in [
                (
                    "license",
                    ["--gateway", "--server", "--port", "--env", "--vendor-port", "--port-range", "--attempts"]
                ),
                ("reverse-tunnel", ["--port", "--host", "--insecure-tcp-port", "--laptop-port"]),
            ] {
                for option in options {
                    var words =
                        kind == "license"
                        ? ["--gateway", "gw", "--server", "lic", "--port", "27000"] : ["--port", "8888"]
                    if let i = words.firstIndex(of: option) {
                        words.remove(at: i)
                        words.remove(at: i)
                    }
                    words += [option, value]
                    let specs = kind == "license" ? SnippetCommand.licenseOptions : SnippetCommand.reverseOptions
                    #expect(throws: (any Error).self, "\(kind) \(option) \(Validate.show(value))") {
                        let parsed = try ArgumentReader.read(words, options: specs, command: kind)
                        _ =
                            kind == "license"
                            ? try SnippetCommand.license(parsed) : try SnippetCommand.reverseTunnel(parsed)
                    }
                }
            }
        }
    }

    @Test func aHostileSocketPathAppearsOnlyQuoted() throws {
        let sandbox = try StubSandbox()
        defer { sandbox.cleanup() }
        let path = sandbox.home + "/x y'$(touch CANARY)`touch CANARY`.sock"  // relative to the job's cwd
        let parsed = try ArgumentReader.read(
            ["--port", "8888", "--socket", path], options: SnippetCommand.reverseOptions, command: "reverse-tunnel")
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
            "jupyter": "sleep 0.2", "rserver": "sleep 0.2", "pvserver": "sleep 0.2", "tensorboard": "sleep 0.2",
            "webapp": "sleep 0.2", "code-server": "sleep 0.2",
            "apptainer": "exit 0",
            "curl": "echo 200", "ssh": "exit 0", "module": "exit 0", "srun": "sleep 0.2",
        ]
        for (name, body) in stubs {
            try writeExecutable(dir.path + "/bin/" + name, "#!/bin/bash\n\(body)\n")
        }
    }

    func cleanup() { dir.cleanup() }

    var environment: [String: String] {
        [
            "HOME": home, "PATH": bin + ":/usr/bin:/bin", "SLURM_JOB_ID": "4242", "SLURM_SUBMIT_HOST": "login",
            "SLURMD_NODENAME": "node01", "USER": ProcessInfo.processInfo.environment["USER"] ?? "root",
        ]
    }

    func runSnippet(_ text: String) throws {
        let path = dir.file("snippet.sh")
        try ("#!/bin/bash\nset -euo pipefail\n" + text).write(toFile: path, atomically: true, encoding: .utf8)
        _ = try runProgram(["timeout", "30", "bash", path], environment: environment, cwd: dir.path)
    }
}

/// Issue 13, finding 1: a zero-width joiner or a mark right after an ASCII separator joins the
/// two into one `Character`, and parsing on characters trapped (exit 132). Every spelling of
/// every option of every command gets a mark after every separator, through the real
/// dispatch in-process (a trap ends the test run) and, for the reported inputs, as a child
/// process of the built binary.
@Suite struct JoinedSeparatorTests {
    /// Joiners and marks that extend the grapheme before them: ZWJ, ZWNJ, a spacing mark
    /// (Devanagari visarga), a combining acute, an enclosing circle, a variation selector,
    /// an emoji skin tone, Thai sara am (SpacingMark), the combining grapheme joiner.
    static let marks = [
        "\u{200D}", "\u{200C}", "\u{0903}", "\u{0301}", "\u{20DD}", "\u{FE0F}", "\u{1F3FB}", "\u{0E33}", "\u{034F}",
    ]
    static let separators = ["=", ",", ":", "@", "-", "/"]
    /// The two inputs the fuzzing pass reported.
    static let reported: [[String]] = [
        ["script", "jupyter", "-t", "1:00:00", "--", "--comment=\u{200D}"],
        ["script", "rstudio", "--", "--nodes=\u{0903}"],
    ]

    /// The commands that render in-process (every app's script, every snippet) and their options,
    /// from the command table.
    static var commands: [([String], [OptionSpec])] {
        Commands.leaves.filter { ["script", "snippet"].contains($0.path[0]) }.map { ($0.path, $0.command.options) }
    }

    static func joinedWords() -> [[String]] {
        var out = reported
        for mark in marks {
            out += [
                [mark], ["-" + mark], ["--" + mark], ["help", "-" + mark], ["script", "-" + mark],
                ["snippet", "-" + mark],
            ]
            for (command, options) in commands {
                for spec in options where spec.key != "--help" {
                    for name in spec.names {
                        out.append(command + [name + "=" + mark])
                        out.append(command + [name + mark])
                        out += separators.map { command + [name, "1" + $0 + mark] }
                    }
                }
                out += separators.map { command + ["-" + $0 + mark] }
                guard command[0] == "script" else { continue }
                for sep in separators {
                    out += [
                        command + ["--", "--comment" + sep + mark], command + ["--", "--nodes" + sep + mark],
                        command + ["--", "-" + sep + mark], command + ["--", "--" + sep + mark],
                        command + ["--", "-w" + sep + mark], command + ["--", "-w", "n" + sep + mark],
                        command + ["--", "-t" + mark], command + ["--", "--mail-user=a" + sep + mark],
                    ]
                }
            }
        }
        return out
    }

    @Test func aMarkAfterAnySeparatorNeverTrapsAndEndsIn0Or64() async throws {
        let words = Self.joinedWords()
        #expect(words.count > 3000)
        try await withHome { home in
            for w in words {
                let result = await runCLI(w, home: home, cwd: home)
                #expect(
                    result.code == .success || result.code == .usage,
                    "\(w.map(Validate.show)): exit \(result.code): \(result.stderr)")
                if result.code == .usage {
                    #expect(
                        result.stdout.isEmpty && result.stderr.filter { $0 == "\n" }.count == 1,
                        "\(w.map(Validate.show)): \(result.stderr)")
                }
            }
        }
    }

    @Test func theReportedInputsGiveExit64FromTheBuiltBinary() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for words in Self.reported + [
            ["script", "jupyter", "--time=\u{0301}"], ["snippet", "license", "--port=\u{200D}"],
        ] {
            let result = try runBinary(
                words.map(ShellQuote.quote).joined(separator: " "), environment: "HOME=\(dir.path)", cwd: dir.path)
            #expect(result.status == 64, "\(words.map(Validate.show)): exit \(result.status) \(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(
                result.stderr.hasPrefix("hpcserve: error: ") && result.stderr.filter { $0 == "\n" }.count == 1,
                "\(result.stderr)")
        }
    }

    @Test func helpAboutHelpEnds() async throws {
        for words in [["help", "help"], ["help", "--help"], ["help", "-h"]] {
            let result = await runCLI(words)
            #expect(result.code == .success)
            #expect(result.stdout == Help.main)
        }
    }
}

/// Issue 13, finding 7: values echoed in messages reached the terminal raw (C0/C1 controls,
/// bidirectional overrides). Every message shows them escaped.
@Suite struct TerminalControlTests {
    static let values = [
        "x\u{9b}2J\u{202e}evil", "\u{1b}]0;title\u{7}", "a\u{1b}[2Jb", "\u{202e}cod.exe", "\u{2066}x\u{2069}",
        "\u{85}next", "\u{200f}rtl", "x\u{2028}y", "\u{301}mark", "=\u{200d}", "\u{feff}bom", "\u{e000}private",
    ]

    static func printsTrue(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\n" || Validate.isPrinting($0) }
    }

    @Test func noMessageCarriesACharacterThatDoesNotPrint() async {
        for value in Self.values {
            for words in [
                ["script", "jupyter", "-p", value], ["script", "jupyter", "--module", value],
                ["script", "jupyter", value],
                ["script", value], ["snippet", value], [value], ["script", "jupyter", "--" + value],
                ["script", "jupyter", "--", "--comment=" + value], ["script", "jupyter", "--", "--" + value],
                ["snippet", "license", "--gateway", value],
                ["snippet", "reverse-tunnel", "--port", "1", "--socket", "/" + value],
                ["watch", value], ["stop", value],
            ] {
                let result = await runCLI(words, home: "/nonexistent-home")
                #expect(Self.printsTrue(result.stderr), "\(words.map(Validate.show)): \(Validate.show(result.stderr))")
                if words.contains("--socket"), result.code == .success {
                    // A socket path may hold marks and format characters: quoted so they print.
                    #expect(Self.printsTrue(result.stdout), "\(words.map(Validate.show))")
                    continue
                }
                #expect(result.code == .usage, "\(words.map(Validate.show))")
                #expect(result.stdout.isEmpty)
                #expect(result.stderr.filter { $0 == "\n" }.count == 1)
            }
        }
    }

    @Test func theReportedValueIsShownEscaped() async {
        let result = await runCLI(["script", "jupyter", "-p", "x\u{9b}2J\u{202e}evil"])
        #expect(result.stderr.contains("'x\\u{9b}2J\\u{202e}evil'"), "\(result.stderr)")
    }

    @Test func aNoteAboutAPathShowsItEscaped() {
        let out = CapturedOutput()
        let context = Context(environment: [:], output: out, workingDirectory: "/tmp")
        context.note("wrote /tmp/\u{1b}[2Jx")
        context.warn("\u{202e}x")
        #expect(out.standardError == "hpcserve: wrote /tmp/\\x1b[2Jx\nhpcserve: warning: \\u{202e}x\n")
    }
}

/// Issue 13, finding 3: `-o FILE` replaced whatever was there by rename (a symlink became a
/// regular file, a device was replaced, 0750 became 0644). On real files in a temporary
/// directory: only a new or a regular file is written, and an existing file keeps its mode.
@Suite struct OutputFileTests {
    func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode : 0
    }

    func leftovers(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".hpcserve-") }
    }

    @Test func aRegularFileIsReplacedAndKeepsItsMode() async throws {
        try await withHome { home in
            let file = home + "/job.sh"
            try "old\n".write(toFile: file, atomically: false, encoding: .utf8)
            chmod(file, 0o750)
            let result = await runCLI(["script", "jupyter", "-o", "job.sh"], home: home, cwd: home)
            #expect(result.code == .success, "\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix("#!/bin/bash\n"))
            #expect(mode(file) & 0o7777 == 0o750 && mode(file) & S_IFMT == S_IFREG)
            #expect(try leftovers(home).isEmpty)
        }
    }

    @Test func aNewFileGetsTheModeAnyNewFileGets() async throws {
        try await withHome { home in
            let reference = home + "/reference"
            let fd = open(reference, O_WRONLY | O_CREAT | O_EXCL, 0o666)
            close(fd)
            let result = await runCLI(["script", "rstudio", "-o", home + "/new.sh"], home: home, cwd: "/")
            #expect(result.code == .success, "\(result.stderr)")
            #expect(mode(home + "/new.sh") == mode(reference))
            #expect(result.stderr.contains("submit it with: sbatch \(home)/new.sh"))
        }
    }

    @Test func aSymlinkADirectoryAFIFOAndADeviceAreRefusedAndLeftAlone() async throws {
        try await withHome { home in
            let target = home + "/target.sh"
            try "target\n".write(toFile: target, atomically: false, encoding: .utf8)
            #expect(symlink(target, home + "/link.sh") == 0)
            #expect(symlink(home + "/missing", home + "/dangling.sh") == 0)
            #expect(mkdir(home + "/dir.sh", 0o700) == 0)
            #expect(mkfifo(home + "/fifo.sh", 0o600) == 0)
            var cases = [
                ("link.sh", "is a symbolic link"), ("dangling.sh", "is a symbolic link"), ("dir.sh", "is a directory"),
                ("fifo.sh", "is a FIFO"),
            ]
            // A character device of our own (root can make one; elsewhere the FIFO stands in).
            let null = dev_t(1 << 8 | 3)  // 1,3: what /dev/null is
            if mknod(home + "/null.sh", S_IFCHR | 0o600, null) == 0 {
                cases.append(("null.sh", "is a character device"))
            }
            for (name, message) in cases {
                let before = mode(home + "/" + name)
                let result = await runCLI(["script", "jupyter", "-o", name], home: home, cwd: home)
                #expect(result.code == .usage, "\(name): \(result.stderr)")
                #expect(result.stdout.isEmpty)
                #expect(
                    result.stderr.contains(message) && result.stderr.filter { $0 == "\n" }.count == 1,
                    "\(result.stderr)")
                #expect(mode(home + "/" + name) == before, "\(name) was changed")
            }
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "target\n")
            #expect(try leftovers(home).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: home + "/.hpcserve"), "refused before anything was created")
        }
    }

    @Test(arguments: ["/dev/stdout", "/dev/stderr", "/dev/fd/1", "/proc/self/fd/1", "-"])
    func standardOutputSaysOmitDashO(_ path: String) async throws {
        try await withHome { home in
            let result = await runCLI(["script", "jupyter", "-o", path], home: home, cwd: home)
            #expect(result.code == .usage && result.stdout.isEmpty)
            #expect(result.stderr.contains("omit -o"), "\(result.stderr)")
        }
    }

    /// Devices outside the sandbox are only checked (prepare writes nothing).
    @Test(arguments: ["/dev/null", "/dev/zero", "/dev/tty", "/dev", "/", "/proc/self/status", "/nonexistent-dir/x.sh"])
    func systemPathsAreRefusedBeforeAnythingIsWritten(_ path: String) throws {
        #expect(throws: UsageError.self) { try renderScriptPrepared(["jupyter", "-o", path]) }
    }

    @Test func whatChangesForAnotherOwnersFileOrAHardLinkIsSaid() async throws {
        try await withHome { home in
            let file = home + "/shared.sh"
            try "old\n".write(toFile: file, atomically: false, encoding: .utf8)
            #expect(link(file, home + "/other-name.sh") == 0)
            var notes = ["had 2 names (hard links); the others keep the old text"]
            if getuid() == 0, chown(file, 65534, 65534) == 0 {
                notes.append("belonged to uid 65534; the new file is yours")
            }
            chmod(file, 0o664)
            let result = await runCLI(["script", "jupyter", "-o", file], home: home, cwd: home)
            #expect(result.code == .success, "\(result.stderr)")
            for note in notes { #expect(result.stderr.contains(note), "\(result.stderr)") }
            #expect(mode(file) & 0o777 == 0o664)
            #expect(try String(contentsOfFile: home + "/other-name.sh", encoding: .utf8) == "old\n")
        }
    }
}

/// `ScriptCommand.prepare` with a throwaway home: renders and checks, writes nothing.
func renderScriptPrepared(_ words: [String]) throws -> ScriptCommand.Prepared {
    let context = Context(
        environment: ["HOME": "/home/alice", "XDG_CONFIG_HOME": "/nonexistent-config"], output: CapturedOutput(),
        workingDirectory: "/tmp")
    return try #require(try ScriptCommand.prepare(words, context: context))
}

/// A Unix socket bound at `path`: listening (the descriptor is returned; close it when done)
/// or closed at once, which leaves a stale socket file that nothing listens on.
func makeUnixSocket(_ path: String, listening: Bool) throws -> Int32? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        close(fd)
        throw POSIXError(.ENAMETOOLONG)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        buffer.copyBytes(from: bytes)
        buffer[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else {
        close(fd)
        throw POSIXError(.EADDRINUSE)
    }
    if listening, listen(fd, 4) == 0 { return fd }
    close(fd)
    return nil
}

/// Issue 13, findings 2 and 6: the reverse-tunnel snippet removed whatever was at --socket
/// (a regular file too), and printed the laptop command with the path unquoted. It removes
/// only a stale socket of ours; anything else is an error naming the path, checked both when
/// the snippet is made and when the job runs; the laptop command is shell-quoted.
@Suite(.tags(.shell)) struct ReverseTunnelSocketTests {
    /// A sandbox whose ssh stub logs its arguments, and a private directory for sockets.
    func sandbox() throws -> (StubSandbox, String) {
        let box = try StubSandbox()
        try writeExecutable(
            box.bin + "/ssh", "#!/bin/bash\nprintf '%s\\n' \"$*\" >>\(box.dir.file("ssh.log"))\nexit 0\n")
        let dir = box.dir.path + "/sockets"
        #expect(mkdir(dir, 0o700) == 0)
        return (box, dir)
    }

    func snippet(_ words: [String]) throws -> String {
        let parsed = try ArgumentReader.read(
            ["--port", "8888"] + words, options: SnippetCommand.reverseOptions, command: "reverse-tunnel")
        return try SnippetCommand.reverseTunnel(parsed)
    }

    func run(_ box: StubSandbox, _ snippet: String) throws -> ProgramResult {
        let script = box.dir.file("job.sh")
        try ("#!/bin/bash\nset -euo pipefail\n" + snippet + "echo REACHED\n").write(
            toFile: script, atomically: true, encoding: .utf8)
        return try runProgram(["bash", script], environment: box.environment, cwd: box.dir.path)
    }

    func sshCalled(_ box: StubSandbox) -> Bool { FileManager.default.fileExists(atPath: box.dir.file("ssh.log")) }

    @Test func theSwiftSideRefusesAnythingButASocketAndNamesThePath() async throws {
        let (box, dir) = try sandbox()
        defer { box.cleanup() }
        try "keep\n".write(toFile: dir + "/file", atomically: false, encoding: .utf8)
        #expect(symlink(dir + "/file", dir + "/link") == 0)
        #expect(mkdir(dir + "/dir", 0o700) == 0)
        for (name, kind) in [("file", "is a regular file"), ("link", "is a symbolic link"), ("dir", "is a directory")] {
            let result = await runCLI(["snippet", "reverse-tunnel", "--port", "8888", "--socket", dir + "/" + name])
            #expect(result.code == .usage && result.stdout.isEmpty, "\(name): \(result.stderr)")
            #expect(result.stderr.contains("'\(dir)/\(name)' \(kind)"), "\(result.stderr)")
        }
        _ = try makeUnixSocket(dir + "/stale.sock", listening: false)
        #expect(try !snippet(["--socket", dir + "/stale.sock"]).isEmpty, "a socket may be stale: the job decides")
        #expect(try String(contentsOfFile: dir + "/file", encoding: .utf8) == "keep\n")
    }

    @Test func atJobTimeAFileALinkOrADirectoryIsAnErrorAndStaysWhole() throws {
        let (box, dir) = try sandbox()
        defer { box.cleanup() }
        for name in ["file", "link", "dir"] {
            let path = dir + "/" + name + ".sock"
            let text = try snippet(["--socket", path])  // made while nothing is there
            let target = dir + "/target-" + name
            try "keep\n".write(toFile: target, atomically: false, encoding: .utf8)
            switch name {
            case "file": try "keep\n".write(toFile: path, atomically: false, encoding: .utf8)
            case "link": #expect(symlink(target, path) == 0)
            default: #expect(mkdir(path, 0o700) == 0)
            }
            let result = try run(box, text)
            #expect(result.status == 1, "\(name): \(result.output)")
            #expect(!result.output.contains("REACHED"))
            #expect(result.output.contains("error: \(path) exists and is not a socket"), "\(result.output)")
            #expect(FileManager.default.fileExists(atPath: path), "\(name) was removed")
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep\n")
            if name == "file" { #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep\n") }
            #expect(!sshCalled(box))
        }
    }

    @Test func theDefaultPathIsCheckedToo() throws {
        let (box, _) = try sandbox()
        defer { box.cleanup() }
        let jobDir = box.home + "/.hpcserve/jobs/4242"
        try FileManager.default.createDirectory(
            atPath: jobDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(box.home + "/.hpcserve", 0o700)
        chmod(box.home + "/.hpcserve/jobs", 0o700)
        try "keep\n".write(toFile: jobDir + "/server.sock", atomically: false, encoding: .utf8)
        let result = try run(box, try snippet([]))
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("error: \(jobDir)/server.sock exists and is not a socket"), "\(result.output)")
        #expect(try String(contentsOfFile: jobDir + "/server.sock", encoding: .utf8) == "keep\n")
    }

    @Test func aStaleSocketIsRemovedAndALiveOneIsLeftAlone() throws {
        let (box, dir) = try sandbox()
        defer { box.cleanup() }
        let stale = dir + "/stale.sock"
        _ = try makeUnixSocket(stale, listening: false)
        let ok = try run(box, try snippet(["--socket", stale]))
        #expect(ok.status == 0 && ok.output.contains("REACHED"), "\(ok.output)")
        #expect(!FileManager.default.fileExists(atPath: stale), "the stale socket was removed for sshd")
        #expect(
            try String(contentsOfFile: box.dir.file("ssh.log"), encoding: .utf8).contains("-R \(stale):127.0.0.1:8888"))

        let live = dir + "/live.sock"
        let fd = try #require(try makeUnixSocket(live, listening: true))
        defer { close(fd) }
        try? FileManager.default.removeItem(atPath: box.dir.file("ssh.log"))
        let busy = try run(box, try snippet(["--socket", live]))
        #expect(busy.status == 1, "\(busy.output)")
        #expect(busy.output.contains("error: something listens on \(live)"), "\(busy.output)")
        var st = stat()
        #expect(lstat(live, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK, "the live socket is still there")
        #expect(!sshCalled(box))
    }

    @Test func theLaptopCommandIsShellQuoted() throws {
        let (box, _) = try sandbox()
        defer { box.cleanup() }
        let dir = box.dir.path + "/x y'$(touch CANARY)`touch CANARY`"  // relative: CANARY is box.canary
        #expect(mkdir(dir, 0o700) == 0)
        let socket = dir + "/s;touch CANARY $HOME.sock"
        let result = try run(box, try snippet(["--socket", socket]))
        #expect(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("on your laptop: ") })
        let command = String(line[line.range(of: "on your laptop: ")!.upperBound...])
        // What a person pasting it runs: bash word splitting and quoting, then ssh (a function here).
        let pasted = try runProgram(["bash", "-c", "ssh() { printf '%s\\n' \"$@\"; }; " + command], cwd: box.dir.path)
        #expect(pasted.status == 0, "\(pasted.output)")
        let user = String(cString: getpwuid(getuid())!.pointee.pw_name)
        #expect(
            pasted.output == ["-N", "-L", "8888:" + socket, "\(user)@login"].joined(separator: "\n") + "\n",
            "\(command)")
        #expect(!FileManager.default.fileExists(atPath: box.canary), "the laptop command ran something")
    }
}

/// Issue 13, finding 8: template overrides were read from any $XDG_CONFIG_HOME with no check on
/// owner or mode. A template, or a directory it is read through, that another user owns or that
/// group or others can write is refused, as ssh refuses a writable config.
@Suite struct TemplateOverrideTests {
    /// A config home with hpcserve/templates/jupyter.sh in it, everything private.
    func config(_ home: String) throws -> String {
        let config = home + "/cfg"
        try FileManager.default.createDirectory(
            atPath: config + "/hpcserve/templates", withIntermediateDirectories: true)
        for dir in [config, config + "/hpcserve", config + "/hpcserve/templates"] { chmod(dir, 0o755) }
        try "#!/bin/bash\n{{SBATCH}}\necho site {{APP}}\n".write(
            toFile: config + "/hpcserve/templates/jupyter.sh", atomically: false, encoding: .utf8)
        chmod(config + "/hpcserve/templates/jupyter.sh", 0o644)
        return config
    }

    func run(_ home: String, _ words: [String] = ["script", "jupyter"], config: String) async -> CLIResult {
        await runCLI(words, home: home, extraEnv: ["XDG_CONFIG_HOME": config], cwd: home)
    }

    @Test func aPrivateOverrideIsUsed() async throws {
        try await withHome { home in
            let result = await run(home, config: try config(home))
            #expect(result.code == .success, "\(result.stderr)")
            #expect(result.stdout.hasSuffix("echo site jupyter\n"))
        }
    }

    @Test(arguments: [
        ("hpcserve/templates/jupyter.sh", 0o666 as mode_t, "writable by every user"),
        ("hpcserve/templates/jupyter.sh", 0o664, "writable by its group"),
        ("hpcserve/templates", 0o777, "writable by every user"),
        ("hpcserve/templates", 0o1777, "writable by every user"),
        ("hpcserve", 0o775, "writable by its group"),
        ("", 0o777, "writable by every user"),
    ])
    func aWritableTemplateOrDirectoryIsRefused(_ relative: String, _ mode: mode_t, _ reason: String) async throws {
        try await withHome { home in
            let config = try config(home)
            let path = relative.isEmpty ? config : config + "/" + relative
            chmod(path, mode)
            let result = await run(home, config: config)
            #expect(result.code == .failure && result.stdout.isEmpty, "\(result.stderr)")
            #expect(result.stderr.contains("template override '\(path)' is \(reason)"), "\(result.stderr)")
            #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        }
    }

    @Test func anOverrideOwnedByAnotherUserIsRefused() async throws {
        guard getuid() == 0 else { return }  // only root can give a file away
        try await withHome { home in
            let config = try config(home)
            #expect(chown(config + "/hpcserve/templates/jupyter.sh", 65534, 65534) == 0)
            let result = await run(home, config: config)
            #expect(result.code == .failure)
            #expect(result.stderr.contains("is owned by another user (uid 65534)"), "\(result.stderr)")
        }
    }

    @Test func aLinkToAWritableFileIsRefused() async throws {
        try await withHome { home in
            let config = try config(home)
            let file = config + "/hpcserve/templates/jupyter.sh"
            try "#!/bin/bash\necho evil\n".write(toFile: home + "/open.sh", atomically: false, encoding: .utf8)
            chmod(home + "/open.sh", 0o666)
            unlink(file)
            #expect(symlink(home + "/open.sh", file) == 0)
            let result = await run(home, config: config)
            #expect(result.code == .failure && !result.stdout.contains("evil"), "\(result.stderr)")
        }
    }

    @Test func dashDashTemplateIsCheckedTheSameWayAndNeverHangs() async throws {
        try await withHome { home in
            let open = home + "/open.sh"
            try "#!/bin/bash\necho {{APP}}\n".write(toFile: open, atomically: false, encoding: .utf8)
            chmod(open, 0o646)
            #expect(mkfifo(home + "/fifo.sh", 0o600) == 0)
            try Data([0x23, 0xff, 0x0a]).write(to: URL(fileURLWithPath: home + "/binary.sh"))
            for (file, message) in [
                (open, "is writable by every user"), (home + "/fifo.sh", "is not a regular file"),
                (home + "/missing.sh", "cannot be read (No such file or directory)"),
                ("/dev/zero", "is not a regular file"),
                (home, "is not a regular file"), (home + "/binary.sh", "is not UTF-8 text"),
            ] {
                let result = await runCLI(["script", "jupyter", "--template", file], home: home, cwd: home)
                #expect(result.code == .usage && result.stdout.isEmpty, "\(file): \(result.stderr)")
                #expect(result.stderr.contains("--template '\(file)' \(message)"), "\(result.stderr)")
            }
            chmod(open, 0o644)
            let fine = await runCLI(["script", "jupyter", "--template", open], home: home, cwd: home)
            #expect(fine.code == .success && fine.stdout == "#!/bin/bash\necho jupyter\n", "\(fine.stderr)")
        }
    }
}
