import Testing

@testable import HPCServeCore

@Suite struct DoctorCommandTests {
    @Test(arguments: [
        ("jupyter_server", "2.14.2", DoctorCommand.Check.Status.ok),
        ("jupyter_server", "1.9.0", .ok),
        ("jupyter_server", "1.8.0", .failed),
        ("jupyter_server", "1.5.0", .failed),
        ("rserver", "RStudio Server 2024.12.0+467 (Kousa Dogwood) for Ubuntu Jammy", .ok),
        ("rserver", "RStudio Server 2024.09.1+394", .failed),
        ("pvserver", "paraview version 5.13.0", .ok),
        ("pvserver", "paraview version 5.11.2", .failed),
        ("code-server", "4.14.1 abc with Code 1.79.2", .ok),
        ("code-server", "4.14.0 abc with Code 1.79.0", .failed),
        ("code-server", "4.96.2 abc with Code 1.96.2", .ok),
        ("code-server", "no version here", .unknown),
    ])
    func appVersionsAreComparedWithWhatHpcserveNeeds(
        _ name: String, _ output: String, _ status: DoctorCommand.Check.Status
    ) {
        let check = DoctorCommand.versionCheck(name, output, on: "here")
        #expect(check.status == status, "\(check)")
        #expect(!check.required, "a missing or old app only matters for that app")
    }

    @Test func jupyterBetweenOneSixAndOneNineGetsTheTokenFileButNotTheSocket() {
        let check = DoctorCommand.versionCheck("jupyter_server", "1.7.0", on: "here")
        #expect(check.detail.contains("token file works but not --sock; use --listen tcp"))
    }

    @Test func theProbeOutputIsReadLineByLine() {
        let probe = DoctorCommand.parseProbe(
            "module|load x failed\njupyter_server|2.1.0\njupyter_server|9\nnode|node01\n")
        #expect(probe == ["module": "load x failed", "jupyter_server": "2.1.0", "node": "node01"])
        // ssh ends its messages with \r\n (one Character in Swift): the next line is still a line.
        let ssh = DoctorCommand.parseProbe("node_to_login|alice@login: Permission denied (publickey).\r\nnode|n1\n")
        #expect(ssh["node"] == "n1")
        #expect(
            DoctorCommand.notFound(probe, on: "here").map(\.what) == [
                "rserver (here)", "pvserver (here)", "code-server (here)",
            ])
    }

    @Test func theTableShowsStatusWhatAndFixAligned() {
        let table = DoctorCommand.table([
            .init(.ok, "short", "fine"), .init(.failed, "a longer check", "do this"),
            .init(.unknown, "opt", "unknown: maybe", required: false),
        ])
        let expected = [
            "✓ short           fine", "✗ a longer check  do this", "? opt (optional)  unknown: maybe",
        ]
        #expect(table == expected.joined(separator: "\n") + "\n")
    }

    /// Missing Slurm tools and a controller that does not answer are required failures.
    @Test func slurmChecksFailWithTheFix() async {
        let runner = ScriptedRunner([
            "squeue": [ProcessResult(status: 1, stderr: "slurm_load_jobs error: Unable to contact slurm controller\n")]
        ])
        let dir = try! TempDir()
        defer { dir.cleanup() }
        for tool in ["sbatch", "squeue"] { try! writeExecutable(dir.file(tool), "#!/bin/sh\n") }
        let context = Context(
            environment: ["PATH": dir.path], output: CapturedOutput(), workingDirectory: "/", runner: runner)
        let checks = await DoctorCommand.slurm(context)
        #expect(checks.count == 2)
        #expect(checks[0].status == .failed && checks[0].detail.hasPrefix("missing scancel;"))
        #expect(checks[1].status == .failed && checks[1].detail.contains("Unable to contact slurm controller"))
        #expect(checks.allSatisfy { $0.required })
    }
}
