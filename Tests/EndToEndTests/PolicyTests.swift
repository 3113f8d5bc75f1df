import Foundation
import Testing

extension EndToEnd {
    /// Site policies real clusters have (Tests/Cluster/up flags), and what hpcserve does under them.
    @Suite struct SitePoliciesOnTheCluster {
        init() throws { try Cluster.prepare() }

        static func policy(_ flags: String) throws {
            let r = try Cluster.local(
                [Cluster.packageRoot + "/Tests/Cluster/up"] + flags.split(separator: " ").map(String.init))
            #expect(r.ok, "up \(flags): \(r)")
        }

        @Test func theWatcherWorksWhereSshToANodeNeedsAJobThere() throws {
            try Self.policy("--ssh-needs-job")
            defer { try? Self.policy("") }
            let dir = try Cluster.scratch("alice", "policy-adopt")
            // Without a job, the node refuses alice (the pam_slurm_adopt-like rule is on) ...
            let refused = try Cluster.on("login", "alice", "ssh -o BatchMode=yes node01 true")
            #expect(!refused.ok && refused.output.contains("Permission denied"), "\(refused)")
            // ... and with hers running there, hpcserve's forward gets through.
            let r = try Cluster.on(
                "login", "alice", "cd \(dir) && hpcserve jupyter --time 10 --detach --json", timeout: 180)
            #expect(r.ok, "\(r)")
            let job = try #require(try EndToEnd.WatcherOnTheCluster.json(r.output)["job_id"] as? Int).description
            try Cluster.hpcserve("alice", "stop \(job)")
        }

        @Test func aReverseTunnelRefusedByTheLoginNodeFailsTheJobClearly() throws {
            try Self.policy("--no-login-stream-forward")
            defer { try? Self.policy("") }
            let dir = try Cluster.scratch("alice", "policy-nostream")
            try Cluster.hpcserve("alice", "script jupyter -t 10 --reverse-tunnel -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            try Cluster.waitFor("job \(job) to fail", seconds: 90) { try Cluster.state("alice", job).0 == "FAILED" }
            let log = Cluster.log("alice", job)
            #expect(log.contains("remote port forwarding failed"), "\(log)")
            #expect(log.contains("hpcserve: error: reverse tunnel to login failed"), "\(log)")
            try Cluster.waitFor("jupyter of job \(job) to be stopped", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("hpcserve-\(job).")
            }
        }

        /// Nobody may ssh to a compute node: the forward goes through the job (srun --overlap,
        /// sshd -i as alice in her job, no port), the laptop command works, bob gets nothing.
        @Test func whereNobodyMaySshToNodesTheForwardGoesThroughTheJob() throws {
            try Self.policy("--no-ssh-to-nodes")
            defer { try? Self.policy("") }
            let dir = try Cluster.scratch("alice", "policy-nossh")
            let refused = try Cluster.on("login", "alice", "ssh -o BatchMode=yes node01 true")
            #expect(!refused.ok, "\(refused)")
            let r = try Cluster.on(
                "login", "alice", "cd \(dir) && hpcserve jupyter --time 10 --detach --json -- --nodelist=node01",
                timeout: 180)
            #expect(r.ok, "\(r)")
            #expect(r.output.contains("going through the job (srun --overlap)"), "\(r)")
            let out = try EndToEnd.WatcherOnTheCluster.json(r.output)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let token = try #require(out["token"] as? String)
            let command = try #require(out["laptop_command"] as? String)
            #expect(
                try EndToEnd.WatcherOnTheCluster.throughLaptopCommand(command, token: token, dir: dir) == "200")
            // The login-side socket is alice's alone; bob cannot use it.
            let socket = try #require(out["login_socket"] as? String)
            let bob = try Cluster.on(
                "login", "bob", "curl -s -m 5 -o /dev/null -w '%{http_code}' --unix-socket \(socket) http://localhost/")
            #expect(bob.trimmed == "000", "\(bob)")
            // The sshd of the forward runs as alice inside her job, and listens on nothing.
            let sshd = try Cluster.local(["pgrep", "-u", "alice", "-f", "sshd -i -f"]).trimmed
            #expect(!sshd.isEmpty)
            let listening = try Cluster.on("node01", "root", "ss -Hltnp | grep -c sshd || true").trimmed
            #expect(listening == "1", "only the node's own sshd listens: \(listening)")
            // stop: no job, no step, no sshd of alice left.
            try Cluster.hpcserve("alice", "stop \(job)")
            try Cluster.waitFor("the job's sshd to end", seconds: 30) {
                (try Cluster.local(["pgrep", "-u", "alice", "-f", "sshd -i -f"])).trimmed.isEmpty
            }
            try Cluster.waitFor("job \(job) to end", seconds: 40) {
                !["RUNNING", "PENDING", "COMPLETING"].contains(try Cluster.state("alice", job).0)
            }
        }
    }
}
