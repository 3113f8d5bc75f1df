import Foundation
import Testing

/// The generated Jupyter script, submitted with the real sbatch, on the real cluster.
extension EndToEnd {
    @Suite struct JupyterOnTheCluster {
        init() throws { try Cluster.prepare() }

        /// `ssh -f -L SOCK:TARGET NODE` as `user` from a private directory on login; returns the socket.
        static func forward(_ user: String, dir: String, target: String, node: String) throws -> String {
            let r = try Cluster.on(
                "login", user,
                "ssh -o BatchMode=yes -o ExitOnForwardFailure=yes -f -N -M -S \(dir)/ctl -L "
                    + "\(dir)/s.sock:\(target) \(node)"
            )
            #expect(r.ok, "forward: \(r)")
            return dir + "/s.sock"
        }

        static func stopForward(_ user: String, dir: String, node: String) throws {
            try Cluster.on("login", user, "ssh -S \(dir)/ctl -O exit \(node) 2>/dev/null; rm -f \(dir)/s.sock")
        }

        /// HTTP status of GET /api/status through `socket` as `user`, with the token from a file
        /// (`-H @file`, so the token is never in an argv) or without one.
        static func apiStatus(_ user: String, socket: String, tokenFile: String?) throws -> String {
            let header = tokenFile.map { "-H @\($0)" } ?? ""
            return try Cluster.on(
                "login", user,
                "curl -s -o /dev/null -w '%{http_code}' --unix-socket \(socket) \(header) http://localhost/api/status"
            ).trimmed
        }

        static func tokenHeader(_ user: String, dir: String, token: String) throws -> String {
            let path = dir + "/auth-header"
            try Cluster.write(user, path, "Authorization: token \(token)\n")
            return path
        }

        @Test func socketModeListensOnlyOnAPrivateSocketAndAnswersThroughALoginForward() throws {
            let dir = try Cluster.scratch("alice", "jup-socket")
            try Cluster.hpcserve("alice", "script jupyter -t 10 -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            let conn = try Cluster.connection("alice", job)
            let node = try #require(conn["node"] as? String)
            let socket = try #require(conn["socket"] as? String)
            let token = try #require(conn["token"] as? String)
            let pid = try #require(conn["pid"] as? Int)
            #expect(conn["app"] as? String == "jupyter")
            #expect(conn["port"] is NSNull)
            #expect(token.count == 48)

            // ss on the node: the server's only listener is the Unix socket; no TCP port at all.
            let unix = try Cluster.on(node, "root", "ss -xlpH").output
            #expect(unix.contains(socket), "ss -xlp on \(node) does not list \(socket):\n\(unix)")
            let tcp = try Cluster.on(node, "root", "ss -ltnpH").output
            #expect(!tcp.contains("pid=\(pid),"), "jupyter listens on TCP on \(node):\n\(tcp)")
            #expect(try Cluster.on(node, "root", "stat -c %a \(socket)").trimmed == "600")
            #expect(try Cluster.on(node, "root", "stat -c '%a %U' $(dirname \(socket))").trimmed == "700 alice")

            // Session directory and file modes on the shared home.
            let session = "/home/alice/.hpcserve/jobs/\(job)"
            #expect(
                try Cluster.on(
                    "login", "root",
                    "stat -c '%a %U' /home/alice/.hpcserve /home/alice/.hpcserve/jobs \(session) "
                        + "\(session)/connection.json"
                ).trimmed
                    == "700 alice\n700 alice\n700 alice\n600 alice")

            // A forward from a 0700 directory on login reaches it; the token decides.
            let fwd = try Cluster.scratch("alice", "jup-socket-fwd")
            let sock = try Self.forward("alice", dir: fwd, target: socket, node: node)
            defer { try? Self.stopForward("alice", dir: fwd, node: node) }
            let header = try Self.tokenHeader("alice", dir: fwd, token: token)
            #expect(try Self.apiStatus("alice", socket: sock, tokenFile: header) == "200")
            #expect(try Self.apiStatus("alice", socket: sock, tokenFile: nil) == "403")
            #expect(try Cluster.on("login", "root", "stat -c %a \(sock)").trimmed == "600")

            // Cancelled: the server, its directory and connection.json are gone.
            try Self.stopForward("alice", dir: fwd, node: node)
            try Cluster.cancel("alice", job)
            try Cluster.waitFor("jupyter of job \(job) to exit", seconds: 20) {
                !(try Cluster.processes("alice")).contains(socket)
            }
            try Cluster.waitFor("clean-up of job \(job)", seconds: 20) {
                !FileManager.default.fileExists(atPath: session + "/connection.json")
                    && !FileManager.default.fileExists(atPath: (socket as NSString).deletingLastPathComponent)
            }
            #expect(Cluster.log("alice", job).contains("job cancelled or signalled: stopping jupyter"))
        }

        @Test func tcpModeBindsOnly127001() throws {
            let dir = try Cluster.scratch("alice", "jup-tcp")
            try Cluster.hpcserve("alice", "script jupyter -t 10 --listen tcp -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            let conn = try Cluster.connection("alice", job)
            let node = try #require(conn["node"] as? String)
            let port = try #require(conn["port"] as? Int)
            let pid = try #require(conn["pid"] as? Int)
            let listeners = try Cluster.on(node, "root", "ss -ltnpH").output
                .split(separator: "\n").filter { $0.contains("pid=\(pid),") }
            #expect(!listeners.isEmpty, "no TCP listener of jupyter (pid \(pid)) on \(node)")
            for line in listeners {
                #expect(line.contains("127.0.0.1:\(port) "), "jupyter listens beyond loopback: \(line)")
            }
            let fwd = try Cluster.scratch("alice", "jup-tcp-fwd")
            let sock = try Self.forward("alice", dir: fwd, target: "127.0.0.1:\(port)", node: node)
            defer { try? Self.stopForward("alice", dir: fwd, node: node) }
            let header = try Self.tokenHeader("alice", dir: fwd, token: try #require(conn["token"] as? String))
            #expect(try Self.apiStatus("alice", socket: sock, tokenFile: header) == "200")
            #expect(try Self.apiStatus("alice", socket: sock, tokenFile: nil) == "403")
            // What connection.json publishes is the job's relay: a 0600 socket in its 0700 node directory.
            let relay = try #require(conn["socket"] as? String)
            #expect(
                try Cluster.on(node, "root", "stat -c '%a %U' \(relay) $(dirname \(relay))").trimmed
                    == "600 alice\n700 alice")
            let relayDir = try Cluster.scratch("alice", "jup-tcp-relay")
            let viaRelay = try Self.forward("alice", dir: relayDir, target: relay, node: node)
            defer { try? Self.stopForward("alice", dir: relayDir, node: node) }
            #expect(try Self.apiStatus("alice", socket: viaRelay, tokenFile: header) == "200")
            // Another user on the same node reaches the port, but not the server without the token.
            let other = try Cluster.on(
                node, "bob", "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:\(port)/api/status"
            ).trimmed
            #expect(other == "403")
        }

        @Test func theScriptsReverseTunnelEndsInAPrivateSocketOnLogin() throws {
            let dir = try Cluster.scratch("alice", "jup-rev")
            try Cluster.hpcserve("alice", "script jupyter -t 10 --reverse-tunnel -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            let conn = try Cluster.connection("alice", job)
            let reverse = try #require(conn["reverse_socket"] as? String)
            #expect(reverse == "/home/alice/.hpcserve/jobs/\(job)/server.sock")
            // Made by login's sshd (the tunnel came from the node), not by any login->node ssh.
            let ss = try Cluster.on("login", "root", "ss -xlpH").output
            #expect(ss.split(separator: "\n").contains { $0.contains(reverse) && $0.contains("sshd") }, "\(ss)")
            let header = try Self.tokenHeader("alice", dir: dir, token: try #require(conn["token"] as? String))
            #expect(try Self.apiStatus("alice", socket: reverse, tokenFile: header) == "200")
            #expect(try Self.apiStatus("alice", socket: reverse, tokenFile: nil) == "403")
            let bob = try Cluster.on(
                "login", "bob", "python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"\(reverse)\")'")
            #expect(!bob.ok && bob.output.contains("PermissionError"), "\(bob)")
            try Cluster.cancel("alice", job)
            try Cluster.waitFor("the reverse socket to be removed", seconds: 20) {
                !FileManager.default.fileExists(atPath: reverse)
            }
            try Cluster.waitFor("no ssh of alice left", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("ssh ")
            }
        }

        @Test func aJobWhoseSetupFailsEndsWithAClearLogLine() throws {
            let dir = try Cluster.scratch("alice", "jup-fail")
            try Cluster.hpcserve("alice", "script jupyter -t 10 --module no-such-module/1.0 -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            try Cluster.waitFor("job \(job) to fail", seconds: 60) { try Cluster.state("alice", job).0 == "FAILED" }
            #expect(Cluster.log("alice", job).contains("hpcserve: error: module load no-such-module/1.0 failed"))
        }
    }
}

extension Cluster {
    /// `ps` of the user's processes that are alive (zombies left for PID 1 to reap are not).
    static func liveProcesses(_ user: String) throws -> String {
        try local(["ps", "-u", user, "-o", "stat=,args="]).output
            .split(separator: "\n").filter { !$0.hasPrefix("Z") }.joined(separator: "\n")
    }
}
