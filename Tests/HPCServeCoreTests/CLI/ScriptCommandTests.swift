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

@Suite(.tags(.golden)) struct ScriptGoldenTests {
    @Test(arguments: Apps.all.map(\.name))
    func defaultScriptMatchesItsSnapshot(_ app: String) throws {
        let text = try renderScript([app, "--time", "2:00:00"])
        expectSnapshot(text, named: "script-\(app).sh")
    }

    @Test func everyOptionReachesTheScript() throws {
        let text = try renderScript([
            "jupyter", "-t", "1-12:00:00", "-p", "gpu", "-A", "proj42", "-q", "high", "-c", "8", "--mem", "64G",
            "-G", "a100:1", "--gres", "gpu:a100:1", "-J", "my-lab", "-C", "skylake&ib", "--reservation", "course",
            "--module", "python/3.11", "--module", "cuda/12.2", "--setup", "source ~/venvs/lab/bin/activate",
            "--listen", "tcp", "--reverse-tunnel", "--ready-timeout", "600", "--classic",
            "--", "--mail-type=END", "-w", "node07",
        ])
        expectSnapshot(text, named: "script-jupyter-all-options.sh")
    }
}

@Suite(.tags(.shell)) struct GeneratedScriptsAreValidBash {
    static let variants: [[String]] = Apps.all.flatMap { app in
        [[app.name, "-t", "10"],
         [app.name, "-t", "1-00:00:00", "--shared", "--reverse-tunnel", "--module", "x/1", "--setup", "echo hi"]]
    } + [["jupyter", "--listen", "tcp", "--classic"], ["rstudio", "--listen", "socket"], ["paraview", "--ranks", "4"]]

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
            try FileManager.default.createDirectory(atPath: home + "/cfg/hpcserve/templates", withIntermediateDirectories: true)
            try "#!/bin/bash\n{{SBATCH}}\necho site {{APP}}\n".write(toFile: home + "/cfg/hpcserve/templates/jupyter.sh", atomically: true, encoding: .utf8)
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
        (["script", "jupyter", "--time", "--partition", "x"], "--time needs a value (TIME), but got the option '--partition'"),
        (["script", "jupyter", "-t", "2h"], "is not a Slurm time"),
        (["script", "jupyter", "-t", "1", "-t", "2"], "given more than once"),
        (["script", "jupyter", "extra"], "unexpected argument 'extra'"),
        (["script", "jupyter", "--listen", "udp"], "not one of: socket, tcp"),
        (["script", "paraview", "--listen", "socket"], "cannot listen on a Unix socket"),
        (["script", "paraview", "--ranks", "0"], "--ranks"),
        (["script", "jupyter", "--shared=yes"], "is a flag"),
        (["script", "jupyter", "--", "--output=/tmp/x"], "cannot be passed through"),
        (["jupyter", "--tme", "1"], "did you mean --time?"),
        (["jupyter", "--detach", "--cancel-on-exit"], "exclude each other"),
        (["watch"], "give one job id"),
        (["watch", "42;id"], "is not a job id"),
        (["stop", "x"], "is not a job id"),
        (["list", "--jsn"], "did you mean --json?"),
        (["scirpt"], "did you mean 'script'?"),
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
        (["snippet", "--help"], "help-snippet.txt"),
        (["snippet", "license", "--help"], "help-snippet-license.txt"),
        (["snippet", "reverse-tunnel", "--help"], "help-snippet-reverse-tunnel.txt"),
        (["jupyter", "--help"], "help-jupyter.txt"),
        (["watch", "--help"], "help-watch.txt"),
        (["list", "--help"], "help-list.txt"),
        (["stop", "--help"], "help-stop.txt"),
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
        #expect(await runCLI(["help", "script"]).stdout == Help.fit(Help.script))
        #expect(await runCLI(["--version"]).stdout == "hpcserve \(ScriptRenderer.version)\n")
        let bare = await runCLI([])
        #expect(bare.code == .usage)
        #expect(bare.stderr == Help.fit(Help.main))
    }
}
