import Foundation
import Testing

@testable import HPCServeCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct LaptopHostTests {
    func context(_ env: [String: String] = [:]) -> Context {
        Context(environment: env, output: CapturedOutput(), workingDirectory: "/tmp")
    }

    @Test(arguments: [
        (["--host", "hpc", "jupyter", "-t", "10"], "hpc"),
        (["--host=alice@login.example.org", "list"], "alice@login.example.org"),
        (["--host", "a", "--host", "b", "list"], "b"),
    ])
    func aLeadingHostIsTakenOff(_ words: [String], _ host: String) throws {
        let (found, rest) = try Laptop.takeHost(words, context: context())
        #expect(found == host)
        #expect(rest.first == "jupyter" || rest.first == "list")
    }

    @Test func theEnvironmentGivesTheHostWhenNoOptionDoes() throws {
        let (found, rest) = try Laptop.takeHost(["list"], context: context(["HPCSERVE_HOST": "hpc"]))
        #expect(found == "hpc")
        #expect(rest == ["list"])
        let (none, _) = try Laptop.takeHost(["list"], context: context())
        #expect(none == nil)
    }

    /// `--host -oProxyCommand=…` would be an ssh option: refused before anything runs.
    @Test(arguments: [
        "-oProxyCommand=touch /tmp/pwned", "-J", "--", "-", "hpc foo", "hpc'x", "a\"b", "a\tb", "hpc\nx", "",
    ])
    func aHostSshWouldMisreadIsAUsageError(_ host: String) async throws {
        for words in [["--host", host, "list"], ["--host=" + host, "list"]] {
            let r = await runCLI(words)
            #expect(r.code == .usage, "\(words): \(r.stderr)")
            #expect(r.stderr.hasPrefix("hpcserve: error: "))
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        if !host.isEmpty {
            let r = await runCLI(["list"], extraEnv: ["HPCSERVE_HOST": host])
            #expect(r.code == .usage, "\(r.stderr)")
        }
    }

    @Test func hostWithoutAValueIsAUsageError() async {
        let r = await runCLI(["--host"])
        #expect(r.code == .usage)
        #expect(r.stderr.contains("--host needs a value"))
    }

    @Test(arguments: [
        ("hpcserve 0.1.0", LoginSide.Compatibility.same), ("hpcserve 0.1.7", .same),
        ("hpcserve 0.0.9", .older("0.0.9")), ("hpcserve 1.0.0", .newer("1.0.0")),
        ("hpcserve 0.2.0", .newer("0.2.0")), ("bash: hpcserve: command not found", .unreadable),
        ("hpcserve", .unreadable), ("hpcserve x.y.z", .unreadable), ("<html>", .unreadable),
    ])
    func theRemoteVersionIsReadStrictly(_ line: String, _ expected: LoginSide.Compatibility) {
        #expect(LoginSide.compatibility(line, ours: "0.1.0") == expected)
    }

    @Test func controlPathsStayShortForMacOS() throws {
        let c = LoginConnection(
            host: String(repeating: "very-long-login-alias.", count: 10), directory: "/Users/someone/.hpcserve/laptop",
            runner: LiveProcessRunner())
        #expect(c.control.utf8.count < 104)
        #expect(c.key == LoginConnection(host: c.host, directory: "/x", runner: LiveProcessRunner()).key)
        #expect(c.key != LoginConnection(host: "other", directory: "/x", runner: LiveProcessRunner()).key)
    }
}

@Suite struct RemoteRunnerTests {
    func remote(_ answers: [String: [ProcessResult]]) -> (RemoteRunner, ScriptedRunner) {
        let local = ScriptedRunner(answers)
        return (LoginConnection(host: "hpc", directory: "/tmp/lap", runner: local).remote, local)
    }

    @Test func wordsAreQuotedForTheLoginShellAndGoThroughTheMaster() async throws {
        let (runner, local) = remote(["ssh": [ProcessResult(status: 0, stdout: "42\n")]])
        let r = try await runner.run(
            Invocation(
                ["sbatch", "--parsable", "it's $(x) `y`"], environment: ["NO_COLOR": "1"], stdin: "#!/bin/bash\n"))
        #expect(r.stdout == "42\n")
        let argv = try #require(local.calls.first)
        #expect(
            Array(argv.prefix(5)) == ["ssh", "-o", "BatchMode=yes", "-S", "/tmp/lap/" + runner.connection.key + ".ctl"])
        #expect(argv.contains("ServerAliveInterval=15"))
        #expect(argv.suffix(2) == ["hpc", "env 'NO_COLOR=1' sbatch --parsable 'it'\\''s $(x) `y`'"])
        // What the login shell makes of that string is the original words.
        let words = try runProgram(["sh", "-c", "eval \"set -- $1\"; printf '%s\\n' \"$@\"", "sh", argv.last!])
        #expect(words.output == "env\nNO_COLOR=1\nsbatch\n--parsable\nit's $(x) `y`\n")
    }

    @Test func outputToAFileIsRedirectedThereNotHeldOnOurChannel() async throws {
        let (runner, local) = remote(["ssh": [ProcessResult(status: 0)]])
        _ = try await runner.run(Invocation(["ssh", "-f", "node01"], output: .appendToFile("/home/a/ssh.log")))
        #expect(local.calls.first?.last == "ssh -f node01 >>/home/a/ssh.log 2>&1 </dev/null")
    }

    @Test func aMissingProgramThereIsToolMissingAsHere() async throws {
        let (runner, _) = remote([
            "ssh": [ProcessResult(status: 127, stderr: "bash: line 1: squeue: command not found\n")]
        ])
        await #expect(throws: ToolMissing.self) { try await runner.run(Invocation(["squeue"])) }
    }

    @Test func aDroppedConnectionIsLostNotAProgramFailure() async throws {
        let (runner, _) = remote([
            "ssh": [
                ProcessResult(status: 255, stderr: "Control socket connect(/tmp/lap/x.ctl): Connection refused\n"),
                ProcessResult(status: 255, stderr: "the program itself said 255\n"),
            ]
        ])
        await #expect(throws: LoginError.self) { try await runner.run(Invocation(["squeue"])) }
        let r = try await runner.run(Invocation(["squeue"]))
        #expect(r.status == 255)
    }
}

@Suite struct LaptopPortTests {
    /// Holds 127.0.0.1:port (listening) until `close`.
    func hold(_ port: Int) -> Int32 {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var addr = SocketProbe.loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0, listen(fd, 1) == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    /// A port nobody holds now, with the next one free too.
    func freePair() -> Int {
        for port in stride(from: 41000 + Int(getpid() % 500) * 4, to: 60000, by: 7)
        where SocketProbe.loopbackPortIsFree(port) && SocketProbe.loopbackPortIsFree(port + 1) {
            return port
        }
        return 0
    }

    @Test func theNextFreePortWhenThePreferredIsTaken() throws {
        let port = freePair()
        let fd = hold(port)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(try LaptopPort.choose(fixed: nil, preferred: port) == port + 1)
        #expect(throws: LaptopError.portTaken(port)) { try LaptopPort.choose(fixed: port, preferred: 8888) }
        #expect(try LaptopPort.choose(fixed: port + 1, preferred: 8888) == port + 1)
        #expect(try LaptopPort.choose(fixed: nil, preferred: port, skipping: [port + 1]) == port + 2)
    }
}
