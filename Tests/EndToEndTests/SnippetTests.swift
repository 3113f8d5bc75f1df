import Foundation
import Testing

/// The snippets pasted into real job scripts, with real ssh through the cluster.
extension EndToEnd {
    @Suite struct SnippetsOnTheCluster {
        init() throws { try Cluster.prepare() }

        /// A stand-in license server: an HTTP server on login's loopback serving one file.
        static func startLicenseServer(port: Int) throws -> String {
            let dir = "/tmp/e2e-license-\(port)"
            try Cluster.local([
                "bash", "-c", "rm -rf \(dir) && mkdir -p \(dir) && echo LICENSE-GRANTED > \(dir)/feature",
            ])
            try Cluster.on(
                "login", "root",
                "cd \(dir) && setsid -f python3 -m http.server \(port) --bind 127.0.0.1 >/dev/null 2>&1")
            try Cluster.waitFor("the stand-in license server", seconds: 20) {
                try Cluster.on("login", "root", "curl -sf http://127.0.0.1:\(port)/feature").ok
            }
            return dir
        }

        static func stopLicenseServer(port: Int) throws {
            // "[.]": the pattern must not match the shell that runs pkill (it would be killed first).
            try Cluster.on("login", "root", "pkill -f 'http[.]server \(port) --bind' || true")
        }

        /// A job script that holds BUSY on the node (bound, not listening: a race the snippet
        /// cannot see coming), hands the snippet BUSY first (stub shuf),
        /// then fetches the "license" through the forward.
        static func licenseJob(dir: String, snippet: String, busy: Int, free: Int, port: Int, then: String) -> String {
            """
            #!/bin/bash
            #SBATCH --job-name=e2e-license
            #SBATCH --output=\(dir)/job-%j.out
            #SBATCH --exclusive
            # a stub shuf: the first "random" pick is a port already taken on this node
            mkdir -p \(dir)/stubs
            printf '#!/bin/bash\\nif [[ -e \(dir)/picked ]]; then echo \(free); else touch \(dir)/picked; echo \(busy); fi\\n' > \(dir)/stubs/shuf
            chmod +x \(dir)/stubs/shuf
            rm -f \(dir)/picked
            export PATH=\(dir)/stubs:$PATH
            # bound, not listening: invisible in /proc/net/tcp, so only ssh's bind finds it taken
            python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1", \(busy))); open("\(dir)/bound", "w"); time.sleep(120)' &
            busy_pid=$!
            for _ in $(seq 50); do [[ -e \(dir)/bound ]] && break; sleep 0.1; done
            \(snippet)
            echo "variable: MLM_LICENSE_FILE=$MLM_LICENSE_FILE"
            echo "fetched: $(curl -s -m 10 "http://localhost:${MLM_LICENSE_FILE%@*}/feature")"
            kill "$busy_pid"
            \(then)

            """
        }

        @Test func licenseForwardRetriesOnABusyPortAndLeavesNoSshBehind() throws {
            let dir = try Cluster.scratch("alice", "license")
            let port = 27111
            let busy = 24001
            let free = 24002
            _ = try Self.startLicenseServer(port: port)
            defer { try? Self.stopLicenseServer(port: port) }
            let snippet = try Cluster.hpcserve(
                "alice", "snippet license --gateway login --server 127.0.0.1 --port \(port) --attempts 3"
            ).output
            try Cluster.write(
                "alice", dir + "/job.sh",
                Self.licenseJob(dir: dir, snippet: snippet, busy: busy, free: free, port: port, then: "exit 0"))
            let job = try Cluster.submit("alice", dir + "/job.sh")
            try Cluster.waitFor("license job \(job) to complete", seconds: 90) {
                ["COMPLETED", "FAILED", "CANCELLED"].contains(try Cluster.state("alice", job).0)
            }
            let out = try String(contentsOfFile: "\(dir)/job-\(job).out", encoding: .utf8)
            #expect(try Cluster.state("alice", job).0 == "COMPLETED", "\(out)")
            #expect(
                out.contains(
                    "license forward on local port \(busy) failed: another process took the port first (attempt 1 of 3)"
                ), "\(out)")
            #expect(out.contains("variable: MLM_LICENSE_FILE=\(free)@localhost"), "\(out)")
            #expect(out.contains("fetched: LICENSE-GRANTED"), "\(out)")
            try Cluster.waitFor("no ssh of alice left after the job", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("ssh -f")
            }
        }

        @Test func licenseForwardEndsWhenTheJobIsCancelled() throws {
            let dir = try Cluster.scratch("alice", "license-cancel")
            let port = 27112
            _ = try Self.startLicenseServer(port: port)
            defer { try? Self.stopLicenseServer(port: port) }
            let snippet = try Cluster.hpcserve(
                "alice", "snippet license --gateway login --server 127.0.0.1 --port \(port)"
            ).output
            try Cluster.write(
                "alice", dir + "/job.sh",
                Self.licenseJob(
                    dir: dir, snippet: snippet, busy: 24011, free: 24012, port: port,
                    then: "echo holding; sleep 300 & wait"))
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            try Cluster.waitFor("the license tunnel in job \(job)", seconds: 60) {
                ((try? String(contentsOfFile: "\(dir)/job-\(job).out", encoding: .utf8)) ?? "").contains("holding")
            }
            #expect(try Cluster.liveProcesses("alice").contains("ssh -f"), "the tunnel should be up while the job runs")
            try Cluster.cancel("alice", job)
            try Cluster.waitFor("no ssh of alice left after scancel", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("ssh -f")
            }
        }

        @Test func reverseTunnelSnippetReachesJupyterWithoutAnyLoginToNodeSsh() throws {
            let dir = try Cluster.scratch("alice", "revsnip")
            let snippet = try Cluster.hpcserve("alice", "snippet reverse-tunnel --port 18888").output
            let script = """
                #!/bin/bash
                #SBATCH --job-name=e2e-revsnip
                #SBATCH --output=\(dir)/job-%j.out
                #SBATCH --exclusive
                umask 077
                tokdir=$(mktemp -d)
                od -An -N24 -tx1 /dev/urandom | tr -d ' \\n' > "$tokdir/token"
                cp "$tokdir/token" \(dir)/token
                JUPYTER_TOKEN_FILE=$tokdir/token jupyter lab --no-browser --ip=127.0.0.1 --port=18888 --ServerApp.port_retries=0 &
                for _ in $(seq 120); do curl -s -o /dev/null http://127.0.0.1:18888/api && break; sleep 0.5; done
                \(snippet)
                echo TUNNEL-UP
                wait

                """
            try Cluster.write("alice", dir + "/job.sh", script)
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            try Cluster.waitFor("the reverse tunnel of job \(job)", seconds: 90) {
                ((try? String(contentsOfFile: "\(dir)/job-\(job).out", encoding: .utf8)) ?? "").contains("TUNNEL-UP")
            }
            let socket = "/home/alice/.hpcserve/jobs/\(job)/server.sock"
            let token = try String(contentsOfFile: dir + "/token", encoding: .utf8)
            try Cluster.write("alice", dir + "/hdr", "Authorization: token \(token)\n")
            let with = try Cluster.on(
                "login", "alice",
                "curl -s -o /dev/null -w '%{http_code}' --unix-socket \(socket) -H @\(dir)/hdr "
                    + "http://localhost/api/status"
            )
            let without = try Cluster.on(
                "login", "alice",
                "curl -s -o /dev/null -w '%{http_code}' --unix-socket \(socket) http://localhost/api/status")
            #expect(with.trimmed == "200")
            #expect(without.trimmed == "403")
            let ss = try Cluster.on("login", "root", "ss -xlpH").output
            #expect(
                ss.split(separator: "\n").contains { $0.contains(socket) && $0.contains("sshd") },
                "the socket is login sshd's: \(ss)")
            try Cluster.cancel("alice", job)
            try Cluster.waitFor("the reverse socket to be removed", seconds: 20) {
                !FileManager.default.fileExists(atPath: socket)
            }
            try Cluster.waitFor("no ssh of alice left", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("ssh -f")
            }
        }
    }
}
