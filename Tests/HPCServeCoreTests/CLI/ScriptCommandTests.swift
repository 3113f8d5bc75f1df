import Foundation
import Testing

@testable import HPCServeCore

/// Renders like `hpcserve script` but without creating ~/.hpcserve (golden-friendly paths).
func renderScript(_ words: [String], home: String = "/home/alice", env: [String: String] = [:]) throws -> String {
    var environment = ["HOME": home, "XDG_CONFIG_HOME": "/nonexistent-config"]
    environment.merge(env) { $1 }
    let context = Context(environment: environment, output: CapturedOutput(), workingDirectory: "/tmp")
    return try #require(try ScriptCommand.prepare(words, context: context)).text
}

/// A generated script cut where its sections begin: the app part (#SBATCH header, what the
/// script does, the user's setup lines, the server command), the runtime (definitions only)
/// and the main sequence at the end.
struct ScriptSections {
    static let runtimeMarker = "# ==== hpcserve runtime: "
    static let mainMarker = "# ==== main: "
    let lines: [Substring]
    let runtimeStart: Int
    let mainStart: Int

    init(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        runtimeStart = try #require(
            lines.firstIndex { $0.hasPrefix(Self.runtimeMarker) }, sourceLocation: sourceLocation)
        mainStart = try #require(lines.lastIndex { $0.hasPrefix(Self.mainMarker) }, sourceLocation: sourceLocation)
    }

    /// From the top to the runtime: the part a user reads first.
    var app: String { lines[..<runtimeStart].joined(separator: "\n") + "\n" }
    /// The runtime and the main sequence: the same for every app, but for the parts a job uses.
    var runtime: String { lines[runtimeStart...].joined(separator: "\n") + "\n" }
    var main: [Substring] { Array(lines[(mainStart + 1)...]) }
    /// 1-based number of the first line `predicate` holds for.
    func lineNumber(_ predicate: (Substring) -> Bool) -> Int? { lines.firstIndex(where: predicate).map { $0 + 1 } }
}

/// One golden for the runtime and one for each app's part, instead of a whole script per app.
@Suite(.tags(.golden)) struct ScriptGoldenTests {
    @Test(arguments: Apps.all.map(\.name))
    func appPartMatchesItsSnapshot(_ app: String) throws {
        let sections = try ScriptSections(try renderScript(appWords(app) + ["--time", "2:00:00"]))
        expectSnapshot(sections.app, named: "script-\(app).sh")
    }

    /// The runtime with every optional part in (TCP proof and relay, reverse tunnel, HTTP probe);
    /// the Unix-socket alternatives are few lines, checked by ScriptLayoutTests.
    @Test func runtimeMatchesItsSnapshot() throws {
        let sections = try ScriptSections(
            try renderScript(["jupyter", "--time", "2:00:00", "--listen", "tcp", "--reverse-tunnel"]))
        expectSnapshot(sections.runtime, named: "script-runtime.sh")
    }

    @Test func everyOptionReachesTheScript() throws {
        let text = try renderScript([
            "jupyter", "-t", "1-12:00:00", "-p", "gpu", "-A", "proj42", "-q", "high", "-c", "8", "--mem", "64G",
            "-G", "a100:1", "--gres", "gpu:a100:1", "-J", "my-lab", "-C", "skylake&ib", "--reservation", "course",
            "--module", "python/3.11", "--module", "cuda/12.2", "--setup", "source ~/venvs/lab/bin/activate",
            "--listen", "tcp", "--reverse-tunnel", "--ready-timeout", "600", "--classic",
            "--", "--mail-type=END", "-w", "node07",
        ])
        let sbatch = text.split(separator: "\n").filter { $0.hasPrefix("#SBATCH ") }
        #expect(
            sbatch == [
                "#SBATCH --job-name=my-lab", "#SBATCH --time=1-12:00:00", "#SBATCH --partition=gpu",
                "#SBATCH --account=proj42",
                "#SBATCH --qos=high", "#SBATCH --nodes=1", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64G",
                "#SBATCH --gpus=a100:1", "#SBATCH --gres=gpu:a100:1", "#SBATCH --constraint=skylake&ib",
                "#SBATCH --reservation=course", "#SBATCH --exclusive",
                "#SBATCH --output=/home/alice/.hpcserve/jobs/%j.log",
                "#SBATCH --signal=B:USR1@120", "#SBATCH --mail-type=END", "#SBATCH --nodelist=node07",
            ])
        #expect(
            text.contains(
                """
                hpcserve_setup() {
                module load python/3.11 || hpcserve_die "module load python/3.11 failed; check the name with 'module avail'"
                module load cuda/12.2 || hpcserve_die "module load cuda/12.2 failed; check the name with 'module avail'"
                source ~/venvs/lab/bin/activate
                }
                """))
        #expect(text.contains("hpcserve_start jupyter notebook --no-browser"))
        #expect(text.contains("--ip=127.0.0.1 --port=\"$hpcserve_port\""))
        #expect(text.contains("hpcserve_ready_timeout=600\n"))
        #expect(text.contains("hpcserve_url_path=/tree\n"))
        #expect(text.contains("\nhpcserve_relay ") && text.contains("\nhpcserve_reverse_tunnel "))
        #expect(text.contains("# - opens a reverse tunnel to a Unix socket in that directory on $SLURM_SUBMIT_HOST"))
    }
}

/// The script is written for its reader: header, then the user's part, then the runtime as
/// definitions only, then a short main sequence; and only the parts the job uses go in.
@Suite struct ScriptLayoutTests {
    static let variants: [[String]] =
        Apps.all.flatMap { app in
            [appWords(app.name), appWords(app.name) + ["--reverse-tunnel", "--module", "x/1", "--setup", "echo hi"]]
        } + [
            ["jupyter", "--listen", "tcp", "--classic"], ["jupyter", "--listen", "tcp", "--reverse-tunnel"],
            ["rstudio", "--listen", "socket"], ["paraview", "--ranks", "4"],
            ["jupyter", "--container", "lab.sif"], ["rstudio", "--container", "r.sif", "--listen", "socket"],
            ["code-server", "--container", "cs.sif", "--listen", "tcp"],
            ["web", "--container", "a.sif", "--command", "srv {port}", "--reverse-tunnel"],
        ]

    @Test func theDefaultJupyterScriptIsShortAndOpensWithTheUsersPart() throws {
        let plain = try renderScript(["jupyter", "--time", "1:00:00"])
        let count = plain.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        #expect(count <= 200, "the default Jupyter script has \(count) lines")

        let setup = try ScriptSections(
            try renderScript([
                "jupyter", "--time", "1:00:00", "--module", "python/3.11", "--setup", "source ~/venvs/lab/bin/activate",
            ]))
        for needle in [
            "module load python/3.11 ||", "source ~/venvs/lab/bin/activate", "hpcserve_start jupyter lab ",
            "--sock=\"$hpcserve_node_socket\" --sock-mode=0600",
        ] {
            let line = try #require(setup.lineNumber { $0.contains(needle) }, "\(needle)")
            #expect(line <= 60, "\(needle) is on line \(line)")
            #expect(line < setup.runtimeStart, "\(needle) is in the runtime")
        }
    }

    @Test(arguments: variants)
    func readsTopDown(_ words: [String]) throws {
        let s = try ScriptSections(try renderScript(words))
        let what = words.joined(separator: " ")
        // The #SBATCH header, what the script does, your setup lines, the server command.
        #expect(s.lines[0] == "#!/bin/bash" && s.lines[1].hasPrefix("#SBATCH "), "\(what)")
        let setup = try #require(s.lineNumber { $0 == "hpcserve_setup() {" }, "\(what)")
        let launch = try #require(s.lineNumber { $0 == "hpcserve_launch() {" }, "\(what)")
        let launchEnd = try #require(s.lines[launch...].firstIndex { $0 == "}" }) + 1
        #expect(s.lineNumber { $0 == "# What this script does:" }.map { $0 < setup } == true, "\(what)")
        #expect(setup < launch && launchEnd <= 60, "\(what): the server command ends on line \(launchEnd)")
        #expect(launchEnd < s.runtimeStart && s.runtimeStart < s.mainStart, "\(what)")

        // The runtime defines, and does nothing: at the top level only comments, settings,
        // `set -o pipefail`, `umask 077` and function definitions.
        var inFunction = false
        for line in s.lines[s.runtimeStart..<s.mainStart] {
            if inFunction {
                inFunction = line != "}"
                continue
            }
            if line.isEmpty || line.hasPrefix("#") || line == "set -o pipefail" || line == "umask 077" { continue }
            if line.wholeMatch(of: /hpcserve_[a-z_]+=[^;&|$`]*/) != nil { continue }
            if line.wholeMatch(of: /hpcserve_[a-z_]+\(\) \{.*\}( +#.*)?/) != nil { continue }
            if line.wholeMatch(of: /hpcserve_[a-z_]+\(\) \{( +#.*)?/) != nil {
                inFunction = true
                continue
            }
            Issue.record("\(what): the runtime runs something at the top level: \(line)")
        }
        #expect(!inFunction, "\(what): a function in the runtime does not end")

        // The main sequence: about ten named calls, each one defined above.
        #expect((8...12).contains(s.main.count), "\(what): \(s.main.count) calls")
        for line in s.main {
            let call = try #require(line.wholeMatch(of: /(hpcserve_[a-z_]+)( +#.*)?/), "\(what): not a call: \(line)")
                .output.1
            #expect(
                s.lines.contains("\(call)() {") || s.lines.contains { $0.hasPrefix("\(call)() { ") },
                "\(what): \(call) is not defined")
        }
    }

    /// A job's shape, text its script must have, text it must not.
    struct Parts: Sendable, CustomTestStringConvertible {
        let words: [String]
        let present: [String]
        let absent: [String]
        var testDescription: String { words.joined(separator: " ") }
    }

    /// Only the parts this job uses go in.
    @Test(arguments: [
        Parts(
            words: ["jupyter"], present: ["--sock=", "--unix-socket"],
            absent: [
                "--ip=", "HPCSERVE_RELAY_PY", "python3 -I", "hpcserve_port_owner", "/proc/net/tcp", "hpcserve_port",
                "hpcserve_tunnel", "ssh -f", "hpcserve_reverse", "jupyter notebook", "/tree", "srun", "16#",
            ]),
        Parts(
            words: ["jupyter", "--listen", "tcp"],
            present: [
                "--ip=127.0.0.1", "hpcserve_port_owner", "hpcserve_job_holds", "HPCSERVE_RELAY_PY", "python3 -I",
                "\nhpcserve_relay ", "\nhpcserve_start_server ",
            ],
            absent: ["--sock=", "--unix-socket", "hpcserve_tunnel", "hpcserve_reverse"]),
        Parts(
            words: ["jupyter", "--reverse-tunnel"],
            present: [
                "hpcserve_reverse_tunnel() {", "\nhpcserve_reverse_tunnel ", "ssh -f -N", "hpcserve_tunnels_stop\n",
                "\"reverse_socket\": %s",
            ],
            absent: ["HPCSERVE_RELAY_PY", "hpcserve_port_owner", "\"reverse_socket\": null"]),
        Parts(
            words: ["jupyter", "--classic"], present: ["hpcserve_start jupyter notebook", "hpcserve_url_path=/tree"],
            absent: ["jupyter lab"]),
        Parts(
            words: ["rstudio"],
            present: [
                "--www-port=", "HPCSERVE_RELAY_PY", "curl -s -o /dev/null -m 5 -w '%{http_code}' \"http://127.0.0.1",
            ],
            absent: ["--www-socket=", "has no --www-socket", "--unix-socket", "hpcserve_tunnel"]),
        Parts(
            words: ["rstudio", "--listen", "socket"], present: ["--www-socket=", "has no --www-socket"],
            absent: ["--www-port=", "HPCSERVE_RELAY_PY"]),
        Parts(
            words: ["paraview"],
            present: ["hpcserve_start pvserver", "16#", "hpcserve_probe() { true; }", "HPCSERVE_RELAY_PY"],
            absent: ["srun --ntasks", "curl", "hpcserve_probe_path", "hpcserve_tunnel"]),
        Parts(
            words: ["paraview", "--ranks", "4"], present: ["hpcserve_start srun --ntasks=4 pvserver"],
            absent: ["hpcserve_start pvserver"]),
    ])
    func aPartIsInOnlyWhenTheJobUsesIt(_ parts: Parts) throws {
        let text = try renderScript(parts.words)
        for needle in parts.present { #expect(text.contains(needle), "\(parts.words): lacks \(needle)") }
        for needle in parts.absent { #expect(!text.contains(needle), "\(parts.words): has \(needle)") }
    }
}

@Suite(.tags(.shell)) struct GeneratedScriptsAreValidBash {
    static let variants: [[String]] =
        Apps.all.flatMap { app in
            [
                appWords(app.name) + ["-t", "10"],
                appWords(app.name) + [
                    "-t", "1-00:00:00", "--shared", "--reverse-tunnel", "--module", "x/1", "--setup", "echo hi",
                ],
            ]
        } + [
            ["jupyter", "--listen", "tcp", "--classic"], ["rstudio", "--listen", "socket"],
            ["paraview", "--ranks", "4"],
            ["jupyter", "--listen", "tcp", "--reverse-tunnel", "--classic"],
            ["rstudio", "--listen", "socket", "--reverse-tunnel"],
            ["paraview", "--ranks", "4", "--reverse-tunnel"],
            ["jupyter", "--container", "docker://jupyter/base-notebook:x y"],
            ["jupyter", "--container", "lab.sif", "--listen", "tcp", "--classic", "--reverse-tunnel"],
            ["rstudio", "--container", "rocker.sif"], ["rstudio", "--container", "rocker.sif", "--listen", "socket"],
            ["code-server", "--container", "cs.sif"], ["code-server", "--container", "cs.sif", "--listen", "tcp"],
            ["web", "--container", "app.sif", "--command", "srv --port {port}"],
            ["web", "--container", "app.sif", "--listen", "socket", "--command", "srv --unix \"{socket}\""],
        ]

    @Test(arguments: variants)
    func bashNAndShellcheckPass(_ words: [String]) throws {
        try expectValidBash(try renderScript(words), words.joined(separator: " "))
    }
}

@Suite struct ScriptCommandTests {
    @Test func exclusiveIsTheDefaultAndSharedWarns() async throws {
        try await withHome { home in
            let plain = await runCLI(["script", "jupyter"], home: home)
            #expect(plain.code == .success)
            #expect(plain.stdout.contains("#SBATCH --exclusive\n"))
            let shared = await runCLI(["script", "jupyter", "--shared"], home: home)
            #expect(shared.code == .success)
            #expect(!shared.stdout.contains("--exclusive\n"))
            #expect(shared.stderr.contains("warning: --shared"))
        }
    }

    @Test func scriptCreatesAPrivateJobsDirectoryForSlurmsOutputFile() async throws {
        try await withHome { home in
            let result = await runCLI(["script", "paraview", "-t", "30"], home: home)
            #expect(result.code == .success)
            var st = stat()
            #expect(stat(home + "/.hpcserve/jobs", &st) == 0)
            #expect(st.st_mode & 0o777 == 0o700)
            #expect(result.stdout.contains("#SBATCH --output=\(home)/.hpcserve/jobs/%j.log"))
        }
    }

    @Test func refusesAnUnsafeSessionDirectory() async throws {
        try await withHome { home in
            #expect(mkdir(home + "/.hpcserve", 0o755) == 0)
            chmod(home + "/.hpcserve", 0o755)
            let result = await runCLI(["script", "jupyter"], home: home)
            #expect(result.code == .failure)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("can be used by other users (mode 755)"))
            #expect(result.stderr.contains("chmod 700"))
        }
    }

    @Test func writesToAFileWithDashO() async throws {
        try await withHome { home in
            let result = await runCLI(["script", "rstudio", "-o", "job.sh"], home: home, cwd: home)
            #expect(result.code == .success)
            #expect(result.stdout.isEmpty)
            let text = try String(contentsOfFile: home + "/job.sh", encoding: .utf8)
            #expect(text.hasPrefix("#!/bin/bash\n#SBATCH --job-name=hpcserve-rstudio\n"))
            #expect(result.stderr.contains("submit it with: sbatch \(home)/job.sh"))
        }
    }

    @Test func templateOverrideFromTheConfigDirectoryAndFromDashDashTemplate() async throws {
        try await withHome { home in
            try FileManager.default.createDirectory(
                atPath: home + "/cfg/hpcserve/templates", withIntermediateDirectories: true)
            try "#!/bin/bash\n{{SBATCH}}\necho site {{APP}}\n".write(
                toFile: home + "/cfg/hpcserve/templates/jupyter.sh", atomically: true, encoding: .utf8)
            try "#!/bin/bash\necho mine {{APP}}\n".write(toFile: home + "/mine.sh", atomically: true, encoding: .utf8)
            let site = await runCLI(["script", "jupyter"], home: home, extraEnv: ["XDG_CONFIG_HOME": home + "/cfg"])
            #expect(site.stdout.hasSuffix("echo site jupyter\n"))
            #expect(site.stdout.contains("#SBATCH --exclusive"))
            let mine = await runCLI(["script", "jupyter", "--template", home + "/mine.sh"], home: home)
            #expect(mine.stdout == "#!/bin/bash\necho mine jupyter\n")
        }
    }

    @Test func sessionDirectoryTooLongForASocketIsAClearError() async throws {
        let long = "/tmp/" + String(repeating: "d", count: 90)
        let result = await runCLI(["script", "jupyter"], extraEnv: ["HPCSERVE_DIR": long])
        #expect(result.code == .usage)
        #expect(result.stderr.contains("Unix socket limit"))
        #expect(result.stderr.contains("HPCSERVE_DIR"))
    }

    @Test(arguments: [
        (["script"], "which app?"),
        (["script", "jupyterr"], "did you mean 'jupyter'?"),
        (["script", "jupyter", "--tme", "10"], "unknown option '--tme'; did you mean --time?"),
        (["script", "jupyter", "--time"], "--time needs a value"),
        (
            ["script", "jupyter", "--time", "--partition", "x"],
            "--time needs a value (TIME), but got the option '--partition'"
        ),
        (["script", "jupyter", "-t", "2h"], "is not a Slurm time"),
        (["script", "jupyter", "-t", "1", "-t", "2"], "given more than once"),
        (["script", "jupyter", "extra"], "unexpected argument 'extra'"),
        (["script", "jupyter", "--listen", "udp"], "not one of: socket, tcp"),
        (["script", "paraview", "--listen", "socket"], "cannot listen on a Unix socket"),
        (["script", "paraview", "--ranks", "0"], "--ranks"),
        (["script", "tensorboard"], "tensorboard needs --logdir DIR"),
        (["script", "tensorboard", "--logdir", "r", "--listen", "socket"], "cannot listen on a Unix socket"),
        (["script", "web"], "web needs --command 'CMD'"),
        (["web", "--command", "srv"], "--command has no {port}"),
        (["script", "web", "--command", "srv {socket}"], "which only --listen socket has"),
        (["script", "web", "--command", "srv '{port}'"], "inside single quotes"),
        (["script", "web", "--command", "srv {port}", "--probe-path", "health"], "is not a URL path"),
        (["script", "web", "--command", "srv {port}", "--url-path", "/a b"], "is not a URL path"),
        (["script", "web", "--command", "srv {port}", "--url-path", "/#x"], "is not a URL path"),
        (["script", "jupyter", "--container", "-img.sif"], "starts with '-'"),
        (["script", "tensorboard", "--logdir", "r", "--container", "x.sif"], "unknown option '--container'"),
        (["script", "paraview", "--container", "x.sif"], "unknown option '--container'"),
        (["script", "jupyter", "--shared=yes"], "is a flag"),
        (["script", "jupyter", "--", "--output=/tmp/x"], "cannot be passed through"),
        (["jupyter", "--tme", "1"], "did you mean --time?"),
        (["jupyter", "--detach", "--cancel-on-exit"], "exclude each other"),
        (["watch"], "give one job id"),
        (["watch", "42;id"], "is not a job id"),
        (["stop", "x"], "is not a job id"),
        (["list", "--jsn"], "did you mean --json?"),
        (["scirpt"], "did you mean 'script'?"),
        (["snippet"], "which snippet?"),
        (["snippet", "licence"], "did you mean 'license'?"),
        (["completions"], "which shell?"),
        (["completions", "tcsh"], "'tcsh' is not one"),
        (["completions", "bash", "--zsh"], "unknown option '--zsh'"),
        (["help", "scirpt"], "did you mean 'script'?"),
    ])
    func usageErrorsAreOneLineWithExit64(_ words: [String], _ message: String) async {
        let result = await runCLI(words, home: "/nonexistent-home")
        #expect(result.code == .usage)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("hpcserve: error: "))
        #expect(result.stderr.filter { $0 == "\n" }.count == 1, "one line: \(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}

@Suite(.tags(.golden)) struct HelpGoldenTests {
    @Test(arguments: [
        (["--help"], "help-main.txt"),
        (["script", "--help"], "help-script.txt"),
        (["script", "jupyter", "--help"], "help-script-jupyter.txt"),
        (["script", "rstudio", "--help"], "help-script-rstudio.txt"),
        (["script", "paraview", "--help"], "help-script-paraview.txt"),
        (["script", "tensorboard", "--help"], "help-script-tensorboard.txt"),
        (["script", "web", "--help"], "help-script-web.txt"),
        (["script", "code-server", "--help"], "help-script-code-server.txt"),
        (["snippet", "--help"], "help-snippet.txt"),
        (["snippet", "license", "--help"], "help-snippet-license.txt"),
        (["snippet", "reverse-tunnel", "--help"], "help-snippet-reverse-tunnel.txt"),
        (["jupyter", "--help"], "help-jupyter.txt"),
        (["watch", "--help"], "help-watch.txt"),
        (["list", "--help"], "help-list.txt"),
        (["stop", "--help"], "help-stop.txt"),
        (["config", "--help"], "help-config.txt"),
        (["doctor", "--help"], "help-doctor.txt"),
        (["completions", "--help"], "help-completions.txt"),
    ])
    func helpMatchesItsSnapshotAndHasExamples(_ words: [String], _ file: String) async {
        let result = await runCLI(words)
        #expect(result.code == .success)
        #expect(result.stdout.contains("Example"))
        for line in result.stdout.split(separator: "\n") where line.count > 80 {
            #expect(line.trimmingCharacters(in: .whitespaces).hasPrefix("hpcserve "), "wider than 80 columns: \(line)")
        }
        expectSnapshot(result.stdout, named: file)
    }

    @Test func helpTopicAndVersion() async {
        #expect(await runCLI(["help", "script"]).stdout == Help.page(ScriptCommand.command, path: ["script"]))
        let license = await runCLI(["snippet", "license", "--help"])
        #expect(await runCLI(["help", "snippet", "license"]).stdout == license.stdout)
        #expect(await runCLI(["--version"]).stdout == "hpcserve \(ScriptRenderer.version)\n")
        let bare = await runCLI([])
        #expect(bare.code == .usage)
        #expect(bare.stderr == Help.main)
    }
}
