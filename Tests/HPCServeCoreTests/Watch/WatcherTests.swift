import Foundation
import Testing

@testable import HPCServeCore

/// A process runner that answers from a script of results and records what was run.
/// An unexpected program fails the test loudly.
final class ScriptedRunner: ProcessRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [String: [ProcessResult]]
    private let missing: Set<String>
    private(set) var calls: [[String]] = []

    /// `missing`: programs that are not on PATH (the live runner throws ToolMissing for them).
    init(_ answers: [String: [ProcessResult]], missing: Set<String> = []) {
        self.answers = answers
        self.missing = missing
    }

    func run(_ invocation: Invocation) async throws -> ProcessResult {
        if missing.contains(invocation.argv[0]) {
            lock.withLock { calls.append(invocation.argv) }
            throw ToolMissing(tool: invocation.argv[0])
        }
        return next(invocation)
    }

    private func next(_ invocation: Invocation) -> ProcessResult {
        lock.lock()
        defer { lock.unlock() }
        calls.append(invocation.argv)
        let name = invocation.argv[0]
        guard var queue = answers[name], !queue.isEmpty else {
            Issue.record("unexpected command: \(invocation.argv.joined(separator: " "))")
            return ProcessResult(status: 127)
        }
        let next = queue.count > 1 ? queue.removeFirst() : queue[0]
        answers[name] = queue
        return next
    }

    func count(_ name: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return calls.filter { $0[0] == name }.count
    }
}

/// A clock that only moves when the watcher sleeps: tests run instantly and deterministically.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t = 0.0
    var now: Double {
        lock.lock()
        defer { lock.unlock() }
        return t
    }
    func advance(_ s: Double) {
        lock.lock()
        t += s
        lock.unlock()
    }
}

@Suite struct WatcherTests {
    func context(_ runner: ScriptedRunner, clock: FakeClock, home: String) -> (Context, CapturedOutput) {
        let out = CapturedOutput()
        let ctx = Context(
            environment: ["HOME": home, "USER": "alice"], output: out, workingDirectory: home,
            runner: runner, now: { clock.now }, sleep: { clock.advance($0) })
        return (ctx, out)
    }

    @Test func aJobThatFailsWhilePendingIsReportedWithItsLogTail() async throws {
        try await withHome { home in
            let runner = ScriptedRunner([
                "squeue": [
                    ProcessResult(status: 0, stdout: "PENDING||Priority|10:00|N/A\n"),
                    ProcessResult(status: 0, stdout: "PENDING||Priority|10:00|N/A\n"),
                    ProcessResult(
                        status: 1,
                        stderr: "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"),
                    ProcessResult(status: 0, stdout: "FAILED|node01|NonZeroExitCode|0:00|2026-11-22T03:00:00\n"),
                ]
            ])
            let clock = FakeClock()
            let (ctx, out) = context(runner, clock: clock, home: home)
            let paths = try SessionPaths(checkedRoot: home + "/.hpcserve")
            try paths.ensurePrivate()
            try "line 1\nhpcserve: error: module load x failed; check the name with 'module avail'\n"
                .write(toFile: paths.log(jobID: "42"), atomically: true, encoding: .utf8)
            let watcher = Watcher(
                job: "42", paths: paths, options: WatchOptions(loginHost: "login", user: "alice"), context: ctx)
            let code = try await watcher.run()
            #expect(code == .failure)
            #expect(out.standardOutput.isEmpty)
            let err = out.standardError
            #expect(err.contains("hpcserve: job 42 pending (Priority), waited 0:00\n"))
            #expect(
                err.contains(
                    "slurmctld does not answer (slurm_load_jobs error: Unable to contact slurm controller "
                        + "(connect failure)); retrying in 5 s"
                ))
            #expect(
                err.contains(
                    "hpcserve: error: job 42 FAILED (NonZeroExitCode) before its server was ready; log: "
                        + "\(paths.log(jobID: "42"))"
                ))
            #expect(err.contains("  | hpcserve: error: module load x failed"))
            #expect(runner.count("squeue") == 4)
            #expect(clock.now >= 2 + 3.2 + 5, "backed off between squeue calls")
        }
    }

    @Test func interruptedWithoutATerminalKeepsTheJobAndSaysHowToComeBack() async throws {
        try await withHome { home in
            let runner = ScriptedRunner(["squeue": [ProcessResult(status: 0, stdout: "PENDING||Resources|10:00|N/A\n")]]
            )
            let clock = FakeClock()
            var (ctx, out) = context(runner, clock: clock, home: home)
            let interrupts = Interrupts()
            ctx.interrupts = interrupts
            ctx.sleep = { s in
                clock.advance(s)
                if clock.now > 30 { interrupts.fire() }
            }
            let paths = try SessionPaths(checkedRoot: home + "/.hpcserve")
            try paths.ensurePrivate()
            let code = try await Watcher(
                job: "7", paths: paths, options: WatchOptions(loginHost: "login", user: "alice"), context: ctx
            ).run()
            #expect(code == .interrupted)
            #expect(
                out.standardError.contains("job 7 keeps running. Reattach: hpcserve watch 7; stop: hpcserve stop 7"))
            #expect(runner.count("scancel") == 0)
        }
    }

    /// A forward that ended with its job leaves its socket behind (ssh never unlinks it):
    /// watching the ended job removes it, even though this watch made no forward itself.
    @Test func watchingAnEndedJobRemovesItsStaleSocket() async throws {
        try await withHome { home in
            let runner = ScriptedRunner([
                "squeue": [ProcessResult(status: 0, stdout: "FAILED|node01|NonZeroExitCode|0:00|x\n")]
            ])
            let clock = FakeClock()
            let (ctx, _) = context(runner, clock: clock, home: home)
            let paths = try SessionPaths(checkedRoot: home + "/.hpcserve")
            try paths.ensurePrivate()
            let dir = paths.directory(jobID: "42")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let made = try runProgram([
                "python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
                dir + "/server.sock",
            ])
            #expect(made.status == 0, "\(made.output)")
            var st = stat()
            #expect(lstat(dir + "/server.sock", &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK)
            let code = try await Watcher(
                job: "42", paths: paths, options: WatchOptions(loginHost: "login", user: "alice"), context: ctx
            ).run()
            #expect(code == .failure)
            #expect(!FileManager.default.fileExists(atPath: dir + "/server.sock"), "the stale socket is still there")
        }
    }
}
