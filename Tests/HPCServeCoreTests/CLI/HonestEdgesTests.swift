import Foundation
import Testing

@testable import HPCServeCore

/// What hpcserve says when a tool is missing or Slurm does not do what was asked: exit 69 at
/// once for a missing tool, and `stop` reports what it really did.
@Suite struct HonestEdgesTests {
    func run(_ words: [String], _ runner: ScriptedRunner, home: String) async -> CLIResult {
        let out = CapturedOutput()
        let ctx = Context(
            environment: ["HOME": home, "USER": "alice"], output: out, workingDirectory: home,
            runner: runner, now: { 0 }, sleep: { _ in })
        let code = await HPCServe.run(words, context: ctx)
        return CLIResult(code: code, stdout: out.standardOutput, stderr: out.standardError)
    }

    @Test(arguments: [
        (["watch", "42"], "squeue"), (["list"], "squeue"), (["stop", "42"], "squeue"),
        (["jupyter", "-t", "10"], "sbatch"),
    ])
    func aMissingToolIsExit69AtOnceNamingIt(_ words: [String], _ tool: String) async throws {
        try await withHome { home in
            let runner = ScriptedRunner([:], missing: [tool])
            if words[0] == "list" { try SessionPaths(checkedRoot: home + "/.hpcserve").ensurePrivate() }
            if words[0] == "list" {
                try FileManager.default.createDirectory(
                    atPath: home + "/.hpcserve/jobs/7", withIntermediateDirectories: true)
            }
            let r = await run(words, runner, home: home)
            #expect(r.code == .unavailable, "\(r.stderr)")
            #expect(r.stderr == "hpcserve: error: " + ToolMissing(tool: tool).description + "\n")
            #expect(runner.count(tool) == 1, "tried once, no retries")
        }
    }

    @Test func stopWithoutScancelIsExit69() async throws {
        try await withHome { home in
            let runner = ScriptedRunner(
                ["squeue": [ProcessResult(status: 0, stdout: "RUNNING|node01|None|9:00|x\n")]], missing: ["scancel"])
            let r = await run(["stop", "42"], runner, home: home)
            #expect(r.code == .unavailable)
            #expect(r.stderr.contains("cannot run 'scancel'"))
            #expect(!r.stderr.contains("stopped job"))
        }
    }

    @Test func stopThatCannotCancelSaysSoAndFails() async throws {
        try await withHome { home in
            let runner = ScriptedRunner([
                "squeue": [
                    ProcessResult(
                        status: 1, stderr: "squeue: error: Unable to contact slurm controller (connect failure)\n")
                ],
                "scancel": [
                    ProcessResult(
                        status: 1, stderr: "scancel: error: Unable to contact slurm controller (connect failure)\n")
                ],
            ])
            let r = await run(["stop", "42"], runner, home: home)
            #expect(r.code == .failure)
            #expect(r.stderr.contains("job 42 was not cancelled: 'scancel 42' failed (exit 1)"), "\(r.stderr)")
            #expect(!r.stderr.contains("stopped job"))
        }
    }

    @Test func stopOfAnEndedJobDoesNotClaimToCancelIt() async throws {
        try await withHome { home in
            let dir = home + "/.hpcserve/jobs/42"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try "{}".write(toFile: dir + "/connection.json", atomically: true, encoding: .utf8)
            try "pw".write(toFile: dir + "/rstudio-password", atomically: true, encoding: .utf8)
            let runner = ScriptedRunner(["squeue": [ProcessResult(status: 0, stdout: "COMPLETED|node01|None|0:00|x\n")]]
            )
            let r = await run(["stop", "42"], runner, home: home)
            #expect(r.code == .success)
            #expect(
                r.stderr.contains(
                    "stopped job 42: it had already ended (COMPLETED); removed connection.json, rstudio-password"),
                "\(r.stderr)")
            #expect(runner.count("scancel") == 0)
            #expect(!FileManager.default.fileExists(atPath: dir + "/rstudio-password"))
        }
    }

    @Test func stopOfARunningJobCancelsIt() async throws {
        try await withHome { home in
            let runner = ScriptedRunner([
                "squeue": [ProcessResult(status: 0, stdout: "RUNNING|node01|None|9:00|x\n")],
                "scancel": [ProcessResult(status: 0)],
            ])
            let r = await run(["stop", "42"], runner, home: home)
            #expect(r.code == .success)
            #expect(r.stderr.contains("stopped job 42: cancelled; log kept"), "\(r.stderr)")
        }
    }

    @Test func jsonIsOneLineOfValidJSON() throws {
        let line = JSONOutput.line(
            ReadySession(
                jobID: 7, app: "jupyter", node: "n\"1", loginSocket: "/h/s.sock",
                laptopCommand: "ssh -N -L 8888:/h/s.sock a@b", url: "http://localhost:8888/lab?token=t",
                token: "t", user: "a", timeLeft: nil, log: "/h/7.log"))
        #expect(line.hasSuffix("}\n") && line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["job_id"] as? Int == 7 && object["node"] as? String == "n\"1")
        #expect(object["time_left"] is NSNull)
        #expect(object["login_socket"] as? String == "/h/s.sock")
    }
}
