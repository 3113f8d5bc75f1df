import Foundation
import Testing

@testable import HPCServeCore

@Suite struct SnippetCommandTests {
    @Test(.tags(.golden)) func licenseSnippetMatchesItsSnapshot() async throws {
        let result = await runCLI([
            "snippet", "license", "--gateway", "gw01", "--server", "lic.example.org", "--port", "27000",
            "--vendor-port", "27001", "--env", "LM_LICENSE_FILE", "--env", "MLM_LICENSE_FILE",
        ])
        #expect(result.code == .success)
        expectSnapshot(result.stdout, named: "snippet-license.sh")
        try expectValidBash(result.stdout, "license snippet")
    }

    @Test(.tags(.golden)) func reverseTunnelSnippetMatchesItsSnapshot() async throws {
        let result = await runCLI(["snippet", "reverse-tunnel", "--port", "8888"])
        #expect(result.code == .success)
        expectSnapshot(result.stdout, named: "snippet-reverse-tunnel.sh")
        try expectValidBash(result.stdout, "reverse-tunnel snippet")
        let tcp = await runCLI(["snippet", "reverse-tunnel", "--port", "8888", "--insecure-tcp-port", "9999"])
        #expect(tcp.code == .success)
        #expect(tcp.stderr.contains("warning: --insecure-tcp-port"))
        try expectValidBash(tcp.stdout, "reverse-tunnel snippet, TCP")
    }

    @Test(arguments: [
        (["snippet", "license", "--server", "s", "--port", "1"], "--gateway is required"),
        (
            ["snippet", "license", "--gateway", "g", "--server", "s", "--port", "1", "--port-range", "9-1"],
            "not a port range"
        ),
        (["snippet", "licence"], "did you mean 'license'?"),
        (["snippet", "reverse-tunnel"], "--port is required"),
        (["snippet", "reverse-tunnel", "--port", "1", "--socket", "rel.sock"], "absolute"),
        (
            ["snippet", "reverse-tunnel", "--port", "1", "--socket", "/a.sock", "--insecure-tcp-port", "2"],
            "exclude each other"
        ),
    ])
    func usageErrors(_ words: [String], _ message: String) async {
        let result = await runCLI(words)
        #expect(result.code == .usage)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}

/// The snippets' own logic, run by bash under `set -euo pipefail` with a stub ssh that logs
/// its calls and refuses a "busy" port like `ssh -o ExitOnForwardFailure=yes` does (exit 255).
/// Real ssh and a real job are in the end-to-end tests.
@Suite(.tags(.shell)) struct SnippetBehaviourTests {
    /// `busyPort` 0: every local port is "taken" (ssh's bind fails); `sshFails`: ssh fails as
    /// it does when it cannot log in, with no port involved.
    func sandbox(busyPort: Int, ports: [Int], sshFails: Bool = false) throws -> StubSandbox {
        let box = try StubSandbox()
        let log = box.dir.file("ssh.log")
        try writeExecutable(
            box.bin + "/ssh",
            """
            #!/bin/bash
            printf '%s\\n' "$*" >>\(log)
            \(sshFails ? "echo 'gw: Permission denied (publickey).' >&2; exit 255" : "")
            for a in "$@"; do
              if [[ $a == 127.0.0.1:\(busyPort == 0 ? "*" : String(busyPort)):* ]]; then
                echo "bind [127.0.0.1]:${a#127.0.0.1:}: Address already in use" >&2
                echo "Could not request local forwarding." >&2
                exit 255
              fi
            done
            exit 0

            """)
        try (ports.map(String.init).joined(separator: "\n") + "\n").write(
            toFile: box.dir.file("ports"), atomically: true, encoding: .utf8)
        try writeExecutable(
            box.bin + "/shuf",
            """
            #!/bin/bash
            # hands out the next port from the list, like a random pick would
            p=$(head -n 1 \(box.dir.file("ports"))); sed -i 1d \(box.dir.file("ports")); echo "$p"

            """)
        return box
    }

    func licenseRun(_ box: StubSandbox, _ words: [String], before: String = "") throws -> (
        status: Int32, output: String
    ) {
        let parsed = try ArgumentReader.read(
            ["--gateway", "gw", "--server", "lic", "--port", "27000"] + words,
            options: SnippetCommand.licenseOptions, command: "license")
        let script = box.dir.file("job.sh")
        try ("#!/bin/bash\n" + before + (try SnippetCommand.license(parsed)) + "echo \"REACHED $MLM_LICENSE_FILE\"\n")
            .write(toFile: script, atomically: true, encoding: .utf8)
        let result = try runProgram(["bash", script], environment: box.environment)
        return (result.status, result.output)
    }

    @Test func licenseRetriesOnABusyPortExportsTheVariableAndStopsTheTunnel() throws {
        let box = try sandbox(busyPort: 20001, ports: [20001, 20002])
        defer { box.cleanup() }
        let parsed = try ArgumentReader.read(
            [
                "--gateway", "gw", "--server", "lic", "--port", "27000", "--vendor-port", "27001",
                "--env", "A_LICENSE", "--env", "B_LICENSE",
            ],
            options: SnippetCommand.licenseOptions, command: "license")
        let snippet = try SnippetCommand.license(parsed)
        let script = box.dir.file("job.sh")
        try ("#!/bin/bash\nset -euo pipefail\n" + snippet + "echo \"A=$A_LICENSE B=$B_LICENSE\"\n")
            .write(toFile: script, atomically: true, encoding: .utf8)
        let result = try runProgram(["bash", script], environment: box.environment)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("A=20002@localhost B=20002@localhost"))
        #expect(
            result.output.contains(
                "license forward on local port 20001 failed: another process took the port first (attempt 1 of 20)"))
        let calls = try String(contentsOfFile: box.dir.file("ssh.log"), encoding: .utf8)
        #expect(calls.contains("-o ExitOnForwardFailure=yes"))
        #expect(calls.contains("-L 127.0.0.1:20002:lic:27000 -L 127.0.0.1:27001:lic:27001 -- gw"))
        #expect(calls.contains("-O exit"), "the EXIT trap ends the tunnel:\n\(calls)")
    }

    @Test func licenseSaysPortsTakenAfterKAttempts() throws {
        let box = try sandbox(busyPort: 0, ports: [20001])
        defer { box.cleanup() }
        let result = try licenseRun(box, ["--attempts", "3"])
        #expect(result.status == 1)
        #expect(!result.output.contains("REACHED"))
        #expect(
            result.output.contains("error: ports taken: another process took each of the 3 local ports tried"),
            "\(result.output)")
        #expect(!result.output.contains("check that 'ssh"), "a port problem must not be blamed on ssh")
        let calls = try String(contentsOfFile: box.dir.file("ssh.log"), encoding: .utf8).split(separator: "\n")
        #expect(calls.count == 3, "three different ports tried: \(calls)")
        #expect(Set(calls).count == 3, "a port that failed is not tried again: \(calls)")
    }

    @Test func licenseStopsAtOnceWhenSshItselfFails() throws {
        let box = try sandbox(busyPort: 1, ports: [20001], sshFails: true)
        defer { box.cleanup() }
        let result = try licenseRun(box, [])
        #expect(result.status == 1)
        #expect(
            result.output.contains(
                "error: ssh to gw failed (gw: Permission denied (publickey). ); check that 'ssh gw' works"),
            "\(result.output)")
        let calls = try String(contentsOfFile: box.dir.file("ssh.log"), encoding: .utf8).split(separator: "\n")
        #expect(calls.count == 1, "no retries when the port is not the problem: \(calls)")
    }

    /// A port something listens on is never handed to ssh: the pick reads the kernel's table.
    @Test func licenseSkipsPortsInUseOnTheNode() throws {
        let box = try sandbox(busyPort: 1, ports: [])
        defer { box.cleanup() }
        // A real listener on a port the random pick (stub shuf) names first.
        let listener = """
            port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
            python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$port" >/dev/null 2>&1 &
            for _ in $(seq 100); do grep -q ":$(printf %04X "$port") .* 0A " /proc/net/tcp && break; sleep 0.05; done
            echo "$port" > \(box.dir.file("ports"))
            echo "LISTENING $port"

            """
        let parsed = try ArgumentReader.read(
            ["--gateway", "gw", "--server", "lic", "--port", "27000", "--port-range", "1024-65535"],
            options: SnippetCommand.licenseOptions, command: "license")
        let script = box.dir.file("job.sh")
        try
            ("#!/bin/bash\n" + listener + (try SnippetCommand.license(parsed))
            + "echo \"REACHED $MLM_LICENSE_FILE\"\nkill %1\n")
            .write(toFile: script, atomically: true, encoding: .utf8)
        let result = try runProgram(["bash", script], environment: box.environment)
        #expect(result.status == 0, "\(result.output)")
        let port = try #require(
            result.output.split(separator: "\n").first { $0.hasPrefix("LISTENING ") }?.split(separator: " ").last)
        let calls = try String(contentsOfFile: box.dir.file("ssh.log"), encoding: .utf8)
        #expect(!calls.contains("127.0.0.1:\(port):"), "ssh was handed a port in use: \(calls)")
        #expect(!result.output.contains("failed"), "\(result.output)")
        #expect(result.output.contains("REACHED \(Int(port)! + 1)@localhost"), "\(result.output)")
    }

    @Test func licenseRefusesAVendorPortInUse() throws {
        let box = try sandbox(busyPort: 1, ports: [20001])
        defer { box.cleanup() }
        let before = """
            vport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
            python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$vport" >/dev/null 2>&1 &
            for _ in $(seq 100); do grep -q ":$(printf %04X "$vport") .* 0A " /proc/net/tcp && break; sleep 0.05; done
            echo "VENDOR $vport"

            """
        // The vendor port is only known at run time here, so the snippet is rendered with a
        // placeholder and the port swapped in (it is a plain number in the script).
        let parsed = try ArgumentReader.read(
            ["--gateway", "gw", "--server", "lic", "--port", "27000", "--vendor-port", "65432"],
            options: SnippetCommand.licenseOptions, command: "license")
        let snippet = try SnippetCommand.license(parsed).replacingOccurrences(
            of: "vendor_ports=(65432)", with: "vendor_ports=(\"$vport\")")
        #expect(snippet.contains("vendor_ports=(\"$vport\")"))
        let script = box.dir.file("job.sh")
        try ("#!/bin/bash\n" + before + snippet + "echo REACHED\nkill %1\n").write(
            toFile: script, atomically: true, encoding: .utf8)
        let result = try runProgram(["bash", script], environment: box.environment)
        #expect(result.status == 1, "\(result.output)")
        #expect(
            result.output.contains("is already taken on") && result.output.contains("vendor-daemon port"),
            "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: box.dir.file("ssh.log")), "ssh must not run")
    }

    @Test func reverseTunnelMakesThePrivateDirectoryAndUsesASocketThere() throws {
        let box = try sandbox(busyPort: 1, ports: [])
        defer { box.cleanup() }
        let parsed = try ArgumentReader.read(
            ["--port", "8888"], options: SnippetCommand.reverseOptions, command: "reverse-tunnel")
        let script = box.dir.file("job.sh")
        try ("#!/bin/bash\nset -euo pipefail\n" + (try SnippetCommand.reverseTunnel(parsed))).write(
            toFile: script, atomically: true, encoding: .utf8)
        let result = try runProgram(["bash", script], environment: box.environment)
        #expect(result.status == 0, "\(result.output)")
        let dir = box.home + "/.hpcserve/jobs/4242"
        var st = stat()
        #expect(stat(dir, &st) == 0 && st.st_mode & 0o777 == 0o700)
        let calls = try String(contentsOfFile: box.dir.file("ssh.log"), encoding: .utf8)
        #expect(calls.contains("-R \(dir)/server.sock:127.0.0.1:8888 -- login"))
        #expect(result.output.contains("on your laptop: ssh -N -L 8888:\(dir)/server.sock"))
    }

    @Test func reverseTunnelRefusesAnOpenSessionDirectory() throws {
        let box = try sandbox(busyPort: 1, ports: [])
        defer { box.cleanup() }
        try FileManager.default.createDirectory(atPath: box.home + "/.hpcserve", withIntermediateDirectories: true)
        chmod(box.home + "/.hpcserve", 0o755)
        let parsed = try ArgumentReader.read(
            ["--port", "8888"], options: SnippetCommand.reverseOptions, command: "reverse-tunnel")
        let script = box.dir.file("job.sh")
        try ("#!/bin/bash\n" + (try SnippetCommand.reverseTunnel(parsed))).write(
            toFile: script, atomically: true, encoding: .utf8)
        let result = try runProgram(["bash", script], environment: box.environment)
        #expect(result.status == 1)
        #expect(result.output.contains("can be used by other users (mode 755)"))
        #expect(!FileManager.default.fileExists(atPath: box.dir.file("ssh.log")))
    }
}

@Suite struct ExamplesStayCurrent {
    @Test func licenseExampleContainsTodaysSnippet() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let file = root.appendingPathComponent("share/examples/license-in-job.sh")
        var example = try String(contentsOf: file, encoding: .utf8)
        let snippet = await runCLI([
            "snippet", "license", "--gateway", "gw01", "--server", "lic.example.org", "--port", "27000",
        ]).stdout
        if ProcessInfo.processInfo.environment["HPCSERVE_RECORD"] == "1",
            let start = example.range(of: "# ---- hpcserve snippet: license server"),
            let end = example.range(of: "# ---- end of hpcserve snippet", range: start.upperBound..<example.endIndex),
            let endOfLine = example[end.upperBound...].firstIndex(of: "\n")
        {
            example.replaceSubrange(start.lowerBound...endOfLine, with: snippet)
            try example.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(
            example.contains(snippet),
            "share/examples/license-in-job.sh is out of date: re-record with HPCSERVE_RECORD=1")
        try expectValidBash(example, "share/examples/license-in-job.sh")
    }
}
