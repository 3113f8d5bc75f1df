import Foundation
import Testing

/// The safe-forwarding recipe's two-user scenario and the secrets rule, on the real cluster.
extension EndToEnd {
    @Suite struct SecurityOnTheCluster {
        init() throws { try Cluster.prepare() }

        struct Session {
            let user: String
            let job: String
            let node: String
            let socket: String
            let token: String
            let loginSocket: String
            var dir: String { "/home/\(user)/.hpcserve/jobs/\(job)" }
        }

        /// `user` runs Jupyter with default settings and forwards it to a socket in a 0700 dir on login.
        static func start(_ user: String) throws -> Session {
            let dir = try Cluster.scratch(user, "two-users")
            try Cluster.hpcserve(user, "script jupyter -t 10 -o \(dir)/job.sh")
            let job = try Cluster.submit(user, dir + "/job.sh")
            let conn = try Cluster.connection(user, job)
            let node = try #require(conn["node"] as? String)
            let socket = try #require(conn["socket"] as? String)
            let fwd = try Cluster.on(
                "login", user,
                "ssh -o BatchMode=yes -o ExitOnForwardFailure=yes -f -N -M -S \(dir)/ctl -L "
                    + "\(dir)/s.sock:\(socket) \(node)"
            )
            #expect(fwd.ok, "\(fwd)")
            return Session(
                user: user, job: job, node: node, socket: socket, token: try #require(conn["token"] as? String),
                loginSocket: dir + "/s.sock")
        }

        static func stop(_ s: Session) {
            _ = try? Cluster.on("login", s.user, "ssh -S /home/\(s.user)/e2e-two-users/ctl -O exit \(s.node)")
            try? Cluster.cancel(s.user, s.job)
        }

        /// Python connect() to a Unix socket as `user` on `host`: "ok", "PermissionError", …
        static func connect(_ host: String, _ user: String, _ path: String) throws -> String {
            try Cluster.on(
                host, user,
                """
                python3 -c 'import socket,sys
                s=socket.socket(socket.AF_UNIX)
                try: s.connect(sys.argv[1]); print("ok")
                except Exception as e: print(type(e).__name__)' \(path)
                """
            ).trimmed
        }

        @Test func twoUsersWithDefaultSettingsCannotReachEachOther() throws {
            let alice = try Self.start("alice")
            defer { Self.stop(alice) }
            let bob = try Self.start("bob")
            defer { Self.stop(bob) }
            #expect(alice.node != bob.node, "--exclusive: two jobs, two nodes")
            for (me, other) in [(alice, bob), (bob, alice)] {
                // The owner gets in through her own login socket (the control case).
                let hdr = "/home/\(me.user)/e2e-two-users/hdr"
                try Cluster.write(me.user, hdr, "Authorization: token \(me.token)\n")
                let own = try Cluster.on(
                    "login", me.user,
                    "curl -s -o /dev/null -w '%{http_code}' --unix-socket \(me.loginSocket) -H @\(hdr) "
                        + "http://localhost/api/status"
                )
                #expect(own.trimmed == "200", "\(me.user) through her own socket")
                // The other user: not through the login socket, not through the node socket
                // (from the node itself), not by reading her files.
                #expect(
                    try Self.connect("login", other.user, me.loginSocket) == "PermissionError",
                    "\(other.user) -> \(me.user)'s login socket")
                #expect(
                    try Self.connect(me.node, other.user, me.socket) == "PermissionError",
                    "\(other.user) -> \(me.user)'s node socket")
                for path in [
                    me.dir + "/connection.json", "/home/\(me.user)/.hpcserve/jobs/\(me.job).log", me.dir,
                    "/home/\(me.user)/.hpcserve",
                ] {
                    let read = try Cluster.on("login", other.user, "cat \(path) 2>&1 || ls \(path) 2>&1")
                    #expect(read.output.contains("Permission denied"), "\(other.user) reads \(path): \(read)")
                }
                // Nothing of hers listens on TCP on her node that he could try without a token.
                let tcp = try Cluster.on(me.node, "root", "ss -ltnpH").output
                #expect(!tcp.contains("jupyter"), "\(me.user)'s jupyter has a TCP port on \(me.node): \(tcp)")
            }
        }

        @Test func theTokenAppearsInNoArgvNoStoredScriptAndNoFileBobCanRead() throws {
            let alice = try Self.start("alice")
            defer { Self.stop(alice) }
            let ps = try Cluster.local(["ps", "-eo", "args"]).output
            #expect(!ps.contains(alice.token), "token in ps -eo args")
            for host in ["login", alice.node] {
                #expect(
                    try !Cluster.on(host, "bob", "ps -eo args").output.contains(alice.token), "token in ps on \(host)")
            }
            let job = try Cluster.on("login", "alice", "scontrol show job \(alice.job)")
            #expect(job.ok && !job.output.contains(alice.token))
            let script = try Cluster.on("login", "alice", "scontrol write batch_script \(alice.job) -")
            #expect(script.ok && script.output.contains("#SBATCH --exclusive"), "\(script)")
            #expect(!script.output.contains(alice.token))
            let env = try Cluster.on("login", "root", "scontrol show job -d \(alice.job)")
            #expect(!env.output.contains(alice.token))
            // Every file bob can read anywhere a job or the daemons write.
            let grep = try Cluster.on(
                "login", "bob",
                "grep -rlF -- \(alice.token) /home /tmp /var/tmp /var/spool /var/lib/slurm /var/log /run "
                    + "2>/dev/null; true"
            )
            #expect(grep.trimmed.isEmpty, "bob can read the token in: \(grep.output)")
        }
    }
}
