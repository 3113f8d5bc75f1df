import Foundation
import HPCServeTestSupport
import Testing

@testable import HPCServeCore

@Suite struct LiveProcessRunnerTests {
    let runner = LiveProcessRunner()

    @Test func exitStatusAndBothStreamsAreData() async throws {
        let r = try await runner.run(Invocation(["bash", "-c", "echo out; echo err >&2; exit 3"]))
        #expect(r.status == 3)
        #expect(r.stdout == "out\n")
        #expect(r.stderr == "err\n")
        #expect(r.lastLine == "err")
    }

    @Test func bigOutputOnBothStreamsDoesNotDeadlock() async throws {
        let r = try await runner.run(
            Invocation([
                "bash", "-c", "head -c 300000 /dev/zero | tr '\\0' a; head -c 300000 /dev/zero | tr '\\0' b >&2",
            ]))
        #expect(r.status == 0)
        #expect(r.stdout.utf8.count == 300_000)
        #expect(r.stderr.utf8.count == 300_000)
    }

    @Test func stdinIsPassedAndClosed() async throws {
        let r = try await runner.run(Invocation(["cat"], stdin: "#!/bin/bash\necho hi\n"))
        #expect(r.stdout == "#!/bin/bash\necho hi\n")
        let none = try await runner.run(Invocation(["cat"]))
        #expect(none.status == 0 && none.stdout.isEmpty)
    }

    @Test func timeoutTerminatesTheProcess() async throws {
        let r = try await runner.run(Invocation(["sleep", "30"], timeout: 0.5))
        #expect(r.timedOut)
        #expect(r.status == 128 + SIGTERM)
    }

    @Test func aGrandchildHoldingThePipeDoesNotBlock() async throws {
        // Like `ssh -f`: the child exits, its daemonised grandchild keeps stdout open for good.
        // The run must end with the child: no clock involved, the grandchild never ends by
        // itself, so a run that waited for it would time out instead.
        let r = try await runner.run(Invocation(["bash", "-c", "sleep 3600 & echo \"$!\""], timeout: 60))
        let grandchild = try #require(Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(r)")
        defer { kill(grandchild, SIGKILL) }
        #expect(r.status == 0)
        #expect(!r.timedOut, "the run waited for the grandchild")
        #expect(kill(grandchild, 0) == 0, "the grandchild is still running, holding the pipe")
    }

    @Test func environmentOverridesAndMissingTools() async throws {
        let r = try await runner.run(
            Invocation(
                ["bash", "-c", "echo \"$HPCSERVE_T-${HOME:-unset}\""], environment: ["HPCSERVE_T": "x", "HOME": nil]))
        #expect(r.stdout == "x-unset\n")
        await #expect(throws: ToolMissing.self) { try await runner.run(Invocation(["no-such-tool-hpcserve"])) }
    }

    @Test func outputCanGoToAFile() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let r = try await runner.run(
            Invocation(["bash", "-c", "echo to-file; echo err >&2"], output: .appendToFile(dir.file("log"))))
        #expect(r.status == 0 && r.stdout.isEmpty)
        #expect(try String(contentsOfFile: dir.file("log"), encoding: .utf8) == "to-file\nerr\n")
    }
}

@Suite struct ChildSignalTests {
    /// A child must be stoppable with SIGTERM even though the thread that spawns it blocks
    /// signals and hpcserve itself ignores SIGTERM (it handles it through Interrupts).
    @Test func childrenStartWithDefaultSignalsAndAnEmptyMask() async throws {
        let live = try await LiveProcessRunner().run(Invocation(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]))
        #expect(live.stdout.contains("SigBlk:\t0000000000000000"), "\(live.stdout)")
        #expect(!Self.ignores(live.stdout, SIGTERM) && !Self.ignores(live.stdout, SIGINT))
        let spawned = try Spawn.run(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
        #expect(spawned.output.contains("SigBlk:\t0000000000000000"), "\(spawned.output)")
    }

    static func ignores(_ status: String, _ sig: Int32) -> Bool {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigIgn:") }),
            let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16)
        else { return false }
        return mask & (1 << UInt64(sig - 1)) != 0
    }
}

@Suite struct ProcessResultTests {
    /// ssh with a terminal ends its lines with \r\n, one Character in Swift: still one line each.
    @Test func theLastLineOfOutputWithCarriageReturns() {
        let r = ProcessResult(status: 255, stderr: "Warning: x\r\nalice@node01: Permission denied (publickey).\r\n")
        #expect(r.lastLine == "alice@node01: Permission denied (publickey).")
        #expect(ProcessResult.lastLine(of: "a\n\n  b  \n\n") == "b")
        #expect(ProcessResult.lastLine(of: "") == "")
    }
}
