import Foundation
import Testing

@testable import HPCServeCore

/// The remote command of the early ssh master, run for real by sh: it outlives the wait for
/// connection.json and ends with the server (or the file), so a forward added to it does too.
@Suite struct EarlyMasterTests {
    /// Starts `command` under /bin/sh the way sshd hands it to the login shell (output to
    /// /dev/null: a grandchild must not hold the test runner's pipe).
    func start(_ command: String) throws -> Process {
        try spawn("/bin/sh", ["-c", command])
    }

    /// The stand-in server: sleep itself (not under a shell), so its pid is the one to watch.
    func server() throws -> Process { try spawn("/bin/sleep", ["60"]) }

    func spawn(_ program: String, _ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits for `p` to end; a loop that never ends is killed after a minute and fails the test.
    func ends(_ p: Process) -> Bool {
        for _ in 0..<600 where p.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning {
            p.terminate()
            return false
        }
        return true
    }

    func writeConnection(_ path: String, pid: Int32) throws {
        try "{\n  \"version\": 1,\n  \"pid\": \(pid),\n  \"started\": \"x\"\n}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func itWaitsForTheFileThenEndsWithTheServer() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        do {
            let file = dir.path + "/connection.json"
            let server = try server()
            let master = try start(Tunnel.earlyCommand(connectionFile: file))
            #expect(master.isRunning, "it waits for connection.json")
            try writeConnection(file, pid: server.processIdentifier)
            // Still there while the server runs: the file is no reason to stop.
            Thread.sleep(forTimeInterval: 1.5)
            #expect(master.isRunning, "it ended although the server still runs")
            kill(server.processIdentifier, SIGKILL)   // (a test runner may block SIGTERM in its children)
            server.waitUntilExit()
            #expect(ends(master), "it did not end when the server did")
        }
    }

    @Test func itEndsWhenTheJobRemovesTheFile() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        do {
            let file = dir.path + "/connection.json"
            let server = try server()
            defer { kill(server.processIdentifier, SIGKILL) }
            try writeConnection(file, pid: server.processIdentifier)
            let master = try start(Tunnel.earlyCommand(connectionFile: file))
            Thread.sleep(forTimeInterval: 1.5)   // (it has seen the file: a job that was ready, then ended)
            #expect(master.isRunning, "it ended although the server still runs")
            try FileManager.default.removeItem(atPath: file)
            #expect(ends(master), "it did not end when connection.json went")
        }
    }

    /// With --reverse-tunnel, sshd makes the job's socket at the very path of our forward's
    /// socket: opening or closing an early master must leave it alone.
    @Test func openingAndClosingTheMasterLeavesServerSockAlone() async throws {
        try await withHome { home in
            let made = try runProgram([
                "python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
                home + "/server.sock",
            ])
            #expect(made.status == 0, "\(made.output)")
            let runner = ScriptedRunner(["ssh": [ProcessResult(status: 0)]])
            let master = Tunnel(runner: runner, directory: home, node: "node01", target: "")
            try await master.openEarly()
            try "".write(toFile: master.control, atomically: true, encoding: .utf8)   // (a file: not removed)
            await master.closeMaster()
            #expect(FileManager.default.fileExists(atPath: home + "/server.sock"), "the job's socket was removed")
            #expect(runner.calls.first?.contains("-M") == true && runner.calls.last?.contains("exit") == true)
        }
    }

    @Test func theCommandIsOneSingleQuotedWordForAnyLoginShell() {
        let command = Tunnel.earlyCommand(connectionFile: "/home/a.b/.hpcserve/jobs/42/connection.json")
        #expect(command.hasPrefix("sh -c '") && command.hasSuffix("'"))
        // csh takes neither a newline nor '!' inside quotes; no inner single quote may end the word.
        #expect(!command.dropFirst(7).dropLast().contains { $0 == "'" || $0 == "\n" || $0 == "!" })
    }
}
