import Foundation
import Testing

@testable import HPCServeCore

@Suite struct WalltimeWarningsTests {
    @Test(arguments: [
        ("1-02:03:04", 93784), ("02:03:04", 7384), ("14:59", 899), ("0:30", 30), ("45", 45),
    ])
    func slurmTimeLeftReadsAsSeconds(_ text: String, _ seconds: Int) {
        #expect(WalltimeWarnings.seconds(text) == seconds)
    }

    @Test(arguments: ["UNLIMITED", "INVALID", "NOT_SET", "", "1:2:3:4", "a:00", "-5:00", "1-", "١:٠٠"])
    func notATimeLeftGivesNoSeconds(_ text: String) {
        #expect(WalltimeWarnings.seconds(text) == nil)
    }

    @Test func warnsOnceEachAtFifteenAndFiveMinutes() {
        var w = WalltimeWarnings()
        let seen = ["2:00:00", "16:00", "15:00", "14:30", "10:00", "5:01", "4:59", "3:00", "0:10"].map {
            w.observe(timeLeft: $0)
        }
        #expect(seen == [nil, nil, 900, nil, nil, nil, 300, nil, nil])
    }

    @Test func aThresholdBehindAtTheStartIsSkippedAndAJumpGivesOneWarning() {
        var short = WalltimeWarnings()
        #expect(["10:00", "6:00", "5:00", "1:00"].map { short.observe(timeLeft: $0) } == [nil, nil, 300, nil])
        var jump = WalltimeWarnings()
        #expect(["1:00:00", "4:00", "3:00"].map { jump.observe(timeLeft: $0) } == [nil, 300, nil])
        var unlimited = WalltimeWarnings()
        #expect(["UNLIMITED", "UNLIMITED"].map { unlimited.observe(timeLeft: $0) } == [nil, nil])
    }

    func context(_ runner: ScriptedRunner, clock: FakeClock, home: String, terminal: Bool)
        -> (Context, CapturedOutput)
    {
        let out = CapturedOutput()
        let ctx = Context(
            environment: ["HOME": home, "USER": "alice"], output: out, workingDirectory: home,
            runner: runner, isTerminal: terminal, now: { clock.now }, sleep: { clock.advance($0) })
        return (ctx, out)
    }

    /// The warnings come from the squeue answers the watcher asks for anyway: no extra call.
    @Test func theWatcherWarnsWithALineAndTheBellOnceEach() async throws {
        try await withHome { home in
            let left = ["20:00", "15:30", "14:50", "10:00", "5:10", "4:59", "3:00"]
            let runner = ScriptedRunner([
                "squeue": left.map { ProcessResult(status: 0, stdout: "RUNNING|node01|None|\($0)|x\n") }
                    + [ProcessResult(status: 0, stdout: "TIMEOUT|node01|TimeLimit|0:00|x\n")],
                "sacct": [ProcessResult(status: 1)], "scontrol": [ProcessResult(status: 1)],
                "ssh": [ProcessResult(status: 255)],
            ])
            let clock = FakeClock()
            let (ctx, out) = context(runner, clock: clock, home: home, terminal: true)
            let paths = try SessionPaths(checkedRoot: home + "/.hpcserve")
            try paths.ensurePrivate()
            _ = try await Watcher(
                job: "42", paths: paths, options: WatchOptions(loginHost: "login", user: "alice"), context: ctx
            ).run()
            let err = out.standardError
            #expect(err.components(separatedBy: "\u{7}").count - 1 == 2, "\(err)")
            let warning = { (left: String, mark: Int) in
                "hpcserve: job 42 has \(left) left (under \(mark) minutes) before its time limit; save your work\n"
            }
            #expect(err.contains(warning("14:50", 15)))
            #expect(err.contains(warning("4:59", 5)))
            #expect(err.components(separatedBy: "save your work").count - 1 == 2)
            #expect(runner.count("squeue") == left.count + 1)
        }
    }

    /// Pending: the start estimate squeue's usual answer carries (%S) is shown, and shown again
    /// when it changes, without asking the scheduler more often.
    @Test func aPendingJobShowsSlurmsStartEstimateFromTheSameAnswers() async throws {
        try await withHome { home in
            let pending = ["N/A", "2026-12-01T07:00:00", "2026-12-01T07:00:00", "2026-12-01T06:30:00"]
            let runner = ScriptedRunner([
                "squeue": pending.map { ProcessResult(status: 0, stdout: "PENDING||Priority|10:00|\($0)\n") }
                    + [ProcessResult(status: 0, stdout: "CANCELLED||None|0:00|N/A\n")],
                "sacct": [ProcessResult(status: 1)], "scontrol": [ProcessResult(status: 1)],
                "ssh": [ProcessResult(status: 255)],
            ])
            let clock = FakeClock()
            let (ctx, out) = context(runner, clock: clock, home: home, terminal: false)
            let paths = try SessionPaths(checkedRoot: home + "/.hpcserve")
            try paths.ensurePrivate()
            _ = try await Watcher(
                job: "9", paths: paths, options: WatchOptions(loginHost: "login", user: "alice"), context: ctx
            ).run()
            let lines = out.standardError.split(separator: "\n").filter { $0.contains("pending") }
            #expect(lines.count == 3, "\(lines)")
            #expect(lines.filter { $0.hasSuffix(", estimated start 2026-12-01 07:00:00") }.count == 1)
            #expect(lines.filter { $0.hasSuffix(", estimated start 2026-12-01 06:30:00") }.count == 1)
            #expect(runner.count("squeue") == pending.count + 1)
        }
    }
}
