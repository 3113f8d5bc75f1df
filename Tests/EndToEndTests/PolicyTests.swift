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
    }
}
