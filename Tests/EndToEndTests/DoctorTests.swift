import Foundation
import Testing

extension EndToEnd {
    /// `hpcserve doctor` and the configuration files, on the real cluster as alice.
    @Suite struct DoctorAndConfigOnTheCluster {
        init() throws { try Cluster.prepare() }

        @Test func doctorIsHealthyAndNamesAllowStreamLocalForwardingWhenLoginForbidsIt() throws {
            let healthy = try Cluster.on("login", "alice", "hpcserve doctor 2>&1")
            #expect(healthy.ok, "\(healthy)")
            #expect(healthy.output.contains("✓ sshd here forwards to Unix sockets"), "\(healthy)")
            #expect(healthy.output.contains("✓ slurmctld answers"), "\(healthy)")
            #expect(healthy.output.contains("hpcserve: all required checks passed"), "\(healthy)")

            try SitePoliciesOnTheCluster.policy("--no-login-stream-forward")
            defer { try? SitePoliciesOnTheCluster.policy("") }
            let refused = try Cluster.on("login", "alice", "hpcserve doctor 2>&1")
            #expect(refused.status == 1, "\(refused)")
            let line = refused.output.split(separator: "\n").first { $0.contains("forwards to Unix sockets") } ?? ""
            #expect(line.hasPrefix("✗ ") && line.contains("AllowStreamLocalForwarding"), "\(refused)")
            #expect(refused.output.contains("1 required check failed: sshd here forwards to Unix sockets"))
        }

        /// --node: the node-side checks run in a small job; ssh from the node back to login is
        /// optional, so a site that forbids it gets "unknown" and still exit 0.
        @Test func doctorNodeChecksFromInsideAJob() throws {
            let ok = try Cluster.on("login", "alice", "hpcserve doctor --node 2>&1", timeout: 300)
            #expect(ok.ok, "\(ok)")
            #expect(ok.output.contains("✓ node-side checks (a small job) (optional)"), "\(ok)")
            #expect(ok.output.contains(" to this login node (optional)  works"), "\(ok)")
            #expect(ok.output.contains("✓ jupyter_server >= 1.9 (node0"), "\(ok)")

            try SitePoliciesOnTheCluster.policy("--no-node-to-login-ssh")
            defer { try? SitePoliciesOnTheCluster.policy("") }
            let denied = try Cluster.on("login", "alice", "hpcserve doctor --node 2>&1", timeout: 300)
            #expect(denied.ok, "\(denied)")
            let line =
                denied.output.split(separator: "\n").first { $0.contains(" to this login node (optional)") } ?? ""
            #expect(line.hasPrefix("? ") && line.contains("unknown: it failed (") && line.contains("Permission denied"))
        }

        /// A site file of root's and alice's own file reach the script as flags would; an unsafe
        /// site file is refused.
        @Test func siteAndUserFilesReachTheScript() throws {
            let dir = try Cluster.scratch("alice", "config")
            let site = "/tmp/hpcserve-e2e-site-config"
            defer { try? FileManager.default.removeItem(atPath: site) }
            try "[defaults]\nlogin_host = hpc.example.org\npartition = debug\ntime = 20\n[jupyter]\nqos = normal\n"
                .write(toFile: site, atomically: false, encoding: .utf8)
            chmod(site, 0o644)
            try Cluster.on("login", "alice", "mkdir -p ~/.config/hpcserve")
            try Cluster.write("alice", "/home/alice/.config/hpcserve/config", "[defaults]\ntime = 30\n")
            defer { _ = try? Cluster.on("login", "alice", "rm -f ~/.config/hpcserve/config") }
            let env = "HPCSERVE_SITE_CONFIG=\(site)"
            let script = try Cluster.on(
                "login", "alice", "\(env) hpcserve script jupyter -o \(dir)/job.sh && cat \(dir)/job.sh")
            #expect(script.ok, "\(script)")
            for line in ["#SBATCH --partition=debug", "#SBATCH --time=30", "#SBATCH --qos=normal"] {
                #expect(script.output.contains(line + "\n"), "\(line): \(script)")
            }
            let shown = try Cluster.on("login", "alice", "\(env) hpcserve config jupyter -t 40")
            #expect(shown.output.contains("login_host      hpc.example.org  \(site):2"), "\(shown)")
            #expect(shown.output.contains("time            40               command line"), "\(shown)")
            chmod(site, 0o666)
            let unsafe = try Cluster.on("login", "alice", "\(env) hpcserve script jupyter 2>&1")
            #expect(unsafe.status == 78, "\(unsafe)")
            #expect(unsafe.output.contains("writable by group or others (mode 666)"), "\(unsafe)")
        }
    }
}
