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
            try Cluster.waitForEnd("alice", job)
        }

        /// `--host hpc` from the laptop where nobody may ssh to nodes: the login side goes through the
        /// job whether the login node's hpcserve makes it or the laptop does (HPCSERVE_REMOTE=none:
        /// the job's keys made there through the master, the same ProxyCommand); stop leaves nothing.
        @Test(arguments: ["", "HPCSERVE_REMOTE=none "])
        func theLaptopForwardsThroughTheJobWhereNobodyMaySshToNodes(_ remote: String) throws {
            try Self.policy("--no-ssh-to-nodes")
            defer { try? Self.policy("") }
            typealias Laptop = EndToEnd.FromTheLaptop
            Laptop.clean("lap1")
            defer { Laptop.clean("lap1") }
            let r = try Laptop.laptop(
                "lap1", "\(remote)hpcserve --host hpc jupyter --time 10 --detach --json -- --nodelist=node01")
            #expect(r.ok, "\(r)")
            let out = try Laptop.json(r.output)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.cancel("alice", job) }
            if !remote.isEmpty {
                #expect(r.output.contains("ssh to node01 failed ("), "\(r)")
                #expect(r.output.contains("going through the job (srun --overlap)"), "\(r)")
            }
            let port = try #require(out["laptop_port"] as? Int)
            let token = try #require(out["token"] as? String)
            #expect(try Laptop.status("lap1", port: port, token: token) == "200")
            #expect(try Laptop.status("lap1", port: port, token: "x" + token) == "403")
            // The login side's ssh reaches the node through sshd -i in alice's job, with its own keys.
            #expect(!(try Cluster.local(["pgrep", "-u", "alice", "-f", "sshd -i -f"])).trimmed.isEmpty)
            let keys = "/home/alice/.hpcserve/jobs/\(job)/job_ssh_client_key"
            #expect(try Cluster.local(["stat", "-c", "%a %U", keys]).trimmed == "600 alice")

            let stop = try Laptop.laptop("lap1", "\(remote)hpcserve --host hpc stop \(job)")
            #expect(stop.ok && stop.output.contains("cancelled"), "\(stop)")
            try Cluster.waitForEnd("alice", job)
            try Cluster.waitFor("no sshd -i or srun step of alice", seconds: 30) {
                let ps = try Cluster.liveProcesses("alice")
                return !ps.contains("sshd -i") && !ps.contains("srun --overlap")
            }
            try Cluster.waitFor("no ssh of lap1 left", seconds: 20) { try Laptop.sshOf("lap1").isEmpty }
            #expect(Laptop.loginSockets(job).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: keys))
            #expect(try Laptop.listeners(port).isEmpty)
        }

        /// A fresh directory of lap1's with `hpcserve ssh-config`'s block as `config`, and its known_hosts
        /// line added the way the block says (`~/.ssh/known_hosts_hpcserve`).
        /// `fromTheLaptop`: the block as `hpcserve --host hpc ssh-config` prints it there.
        static func laptopBlock(_ name: String, fromTheLaptop: Bool = false) throws -> String {
            let laptop = EndToEnd.FromTheLaptop.laptop
            let dir = "/var/lib/hpcserve-laptop/lap1/\(name)"
            try laptop("lap1", "rm -rf \(dir) && mkdir -m 700 \(dir)", 60)
            let block: String
            if fromTheLaptop {
                let r = try laptop("lap1", "hpcserve --host hpc ssh-config --time 10 2>/dev/null", 120)
                #expect(r.ok && r.output.contains("Host hpc-job\n  User alice\n"), "\(r)")
                block = r.output
            } else {
                block = try Cluster.hpcserve("alice", "ssh-config --time 10 --login-host hpc").output
            }
            #expect(block.contains("ProxyCommand ssh hpc hpcserve proxy --time 10"), "\(block)")
            let echo = try #require(block.split(separator: "\n").first { $0.contains("echo 'hpcserve-shell ") })
            try laptop(
                "lap1", "cat > \(dir)/config <<'EOF'\n\(block)EOF\n" + String(echo.drop { $0 == "#" || $0 == " " }), 60)
            return dir
        }

        /// `hpcserve ssh-config`'s block on the laptop: `ssh hpc-job`, a second connection and scp
        /// land in one shell job (sshd -i in the job through srun --overlap, whether or not the
        /// site lets users ssh to nodes); `stop` leaves no job, step or sshd.
        @Test(arguments: ["--no-ssh-to-nodes", ""])
        func sshIntoTheJobThroughProxy(_ policy: String) throws {
            try Self.policy(policy)
            defer { try? Self.policy("") }
            let laptop = EndToEnd.FromTheLaptop.laptop
            let dir = try Self.laptopBlock("e2e-proxy")
            defer { _ = try? laptop("lap1", "rm -f ~/.ssh/known_hosts_hpcserve", 60) }
            let ssh = "ssh -F \(dir)/config -o BatchMode=yes"
            let first = try laptop("lap1", "\(ssh) hpc-job 'hostname; squeue --me -h -o %i'", 240)
            #expect(first.ok, "\(first)")
            let lines = first.output.split(separator: "\n").filter { !$0.hasPrefix("hpcserve:") }
            let node = try #require(lines.first.map(String.init))
            #expect(["node01", "node02"].contains(node), "\(first)")
            let job = try #require(lines.dropFirst().first.map(String.init))
            defer { _ = try? Cluster.cancel("alice", job) }
            #expect(try Cluster.state("alice", job) == ("RUNNING", node))
            // A second connection: the same job.
            let second = try laptop("lap1", "\(ssh) hpc-job 'echo $(hostname) $(squeue --me -h -o %i | wc -l)'", 120)
            #expect(second.output.contains("\(node) 1"), "\(second)")
            // hpcserve shell on the login node: a command in the same job, on its node.
            let shell = try Cluster.on("login", "alice", "hpcserve shell -- 'echo $(hostname) $SLURM_JOB_ID'")
            #expect(shell.ok && shell.output.contains("\(node) "), "\(shell)")
            #expect(shell.output.contains("shell job \(job) on \(node)"), "\(shell)")
            // scp into the job's node (node-local /tmp, not the shared home).
            try laptop("lap1", "echo e2e-payload > \(dir)/payload", 60)
            let scp = try laptop(
                "lap1", "scp -F \(dir)/config -o BatchMode=yes \(dir)/payload hpc-job:/tmp/e2e-scp", 120)
            #expect(scp.ok, "\(scp)")
            let landed = try Cluster.on(node, "root", "cat /tmp/e2e-scp; stat -c %U /tmp/e2e-scp; rm -f /tmp/e2e-scp")
            #expect(landed.output == "e2e-payload\nalice\n", "\(landed)")
            // The job's sshd listens on nothing: only the node's own sshd has a port.
            try Cluster.hpcserve("alice", "stop \(job)")
            try Cluster.waitForEnd("alice", job)
            try Cluster.waitFor("no sshd -i or srun step of alice", seconds: 30) {
                let ps = try Cluster.liveProcesses("alice")
                return !ps.contains("sshd -i") && !ps.contains("srun --overlap")
            }
        }

        /// A stand-in for VS Code Remote-SSH (VS Code cannot be installed here), doing what it does
        /// through the printed block: `ssh -T -D PORT hpc-job bash` with a script on stdin that starts
        /// its server on the remote's 127.0.0.1 (a random port) and prints `listeningOn==PORT==`,
        /// then the client's connections through ssh's SOCKS proxy; and rsync into the job.
        @Test(arguments: ["--no-ssh-to-nodes", ""])
        func aVSCodeLikeClientAndRsyncLandInTheJob(_ policy: String) throws {
            try Self.policy(policy)
            defer { try? Self.policy("") }
            typealias Laptop = EndToEnd.FromTheLaptop
            Laptop.clean("lap1")
            defer { Laptop.clean("lap1") }
            let dir = try Self.laptopBlock("e2e-vscode", fromTheLaptop: true)
            defer { _ = try? Laptop.laptop("lap1", "rm -f ~/.ssh/known_hosts_hpcserve", timeout: 60) }
            let socks = 18_431
            try #require(try Laptop.listeners(socks).isEmpty, "port \(socks) is taken on the laptop")
            // What Remote-SSH feeds bash: its server on 127.0.0.1:0 in a fresh directory, the port
            // printed, then bash stays while the server runs.
            let script = """
                d=$(mktemp -d) && cd "$d" && hostname > host
                python3 -u -m http.server --bind 127.0.0.1 0 > log 2>&1 &
                until p=$(sed -n 's/.* port \\([0-9][0-9]*\\) .*/\\1/p' log); [ -n "$p" ]; do sleep 0.1; done
                echo "listeningOn==$p=="
                wait

                """
            try Laptop.laptop("lap1", "cat > \(dir)/script <<'EOF'\n\(script)EOF", timeout: 60)
            // ConnectTimeout above the queue wait, as the README tells VS Code users to set it.
            try Laptop.laptop(
                "lap1",
                "setsid -f bash -c 'echo $$ > \(dir)/pid; exec ssh -F \(dir)/config -o BatchMode=yes -T "
                    + "-D 127.0.0.1:\(socks) -o ConnectTimeout=300 hpc-job bash < \(dir)/script > \(dir)/out "
                    + "2> \(dir)/err'", timeout: 60)
            func read(_ name: String) -> String {
                (try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8)) ?? ""
            }
            defer { _ = try? Laptop.laptop("lap1", "kill $(cat \(dir)/pid)", timeout: 60) }
            try Cluster.waitFor("listeningOn== from the remote bash", seconds: 240) {
                if !read("err").isEmpty, read("err").contains("Permission denied") || read("err").contains("rror") {
                    throw ClusterError.failed("ssh failed: \(read("err"))")
                }
                return read("out").contains("listeningOn==")
            }
            let port = try #require(
                read("out").components(separatedBy: "listeningOn==").last?.split(separator: "=").first.map(String.init))
            let shell = try Cluster.on("login", "alice", "squeue --me -h -n hpcserve-shell -o '%i %T %N'").trimmed
            let fields = shell.split(separator: " ").map(String.init)
            try #require(fields.count == 3 && fields[1] == "RUNNING", "one running shell job: \(shell)")
            let (job, node) = (fields[0], fields[2])
            defer { _ = try? Cluster.cancel("alice", job) }
            // The client's connection through the SOCKS proxy: 127.0.0.1 resolved on the job's node.
            let got = try Laptop.laptop(
                "lap1", "curl -s -m 20 --socks5-hostname 127.0.0.1:\(socks) http://127.0.0.1:\(port)/host", timeout: 60)
            #expect(got.trimmed == node, "\(got)")
            // The SOCKS end is the laptop's loopback only.
            #expect(try Laptop.listeners(socks) == ["127.0.0.1:\(socks)"])
            // The server runs as alice (the `host` file it served says where).
            let server = try Cluster.on(node, "root", "pgrep -u alice -f 'http.server --bind 127.0.0.1 0'").trimmed
            #expect(!server.isEmpty)
            // rsync into the job's node (node-local /tmp): rsync on the laptop, rsync --server there.
            try Laptop.laptop("lap1", "echo e2e-rsync > \(dir)/payload", timeout: 60)
            let rsync = try Laptop.laptop(
                "lap1", "rsync -e 'ssh -F \(dir)/config -o BatchMode=yes' \(dir)/payload hpc-job:/tmp/e2e-rsync",
                timeout: 120)
            #expect(rsync.ok, "\(rsync)")
            let landed = try Cluster.on(
                node, "root", "cat /tmp/e2e-rsync; stat -c %U /tmp/e2e-rsync; rm -f /tmp/e2e-rsync")
            #expect(landed.output == "e2e-rsync\nalice\n", "\(landed)")
            // hpcserve --host hpc shell from the laptop: a command in the same job, on its node.
            let there = try Laptop.laptop("lap1", "hpcserve --host hpc shell -- 'echo on $(hostname)'", timeout: 120)
            #expect(there.ok && there.output.contains("on \(node)\n"), "\(there)")
            #expect(there.output.contains("shell job \(job) on \(node)"), "\(there)")
            #expect(try Cluster.on("login", "alice", "squeue --me -h -o %i").trimmed == job, "still one job")
            // stop: the job, its steps, sshd and the server all end; the laptop's ssh with them.
            try Cluster.hpcserve("alice", "stop \(job)")
            try Cluster.waitForEnd("alice", job)
            try Cluster.waitFor("no sshd -i, srun step or server of alice", seconds: 30) {
                let ps = try Cluster.liveProcesses("alice")
                return !ps.contains("sshd -i") && !ps.contains("srun --overlap") && !ps.contains("http.server")
            }
        }

        /// On a terminal (a pty from script(1), the answer typed ahead), a job this invocation
        /// submitted whose forward cannot be made is offered for cancellation, as Ctrl-C does:
        /// yes cancels it, no keeps it running.
        @Test(arguments: zip(["y", "n"], [true, false]))
        func aJobThatCannotBeReachedIsOfferedForCancellationOnATerminal(_ answer: String, _ cancels: Bool) throws {
            try Self.policy("--no-ssh-to-nodes")
            defer { try? Self.policy("") }
            let dir = try Cluster.scratch("alice", "policy-offer")
            let r = try Cluster.on(
                "login", "alice",
                "cd \(dir) && printf '\(answer)\\n' | script -qec 'HPCSERVE_NODE_SSH=yes hpcserve jupyter --time 10' "
                    + "/dev/null", timeout: 180)
            let job = try Self.offered(r)
            defer { _ = try? Cluster.cancel("alice", job) }
            if cancels {
                #expect(r.output.contains("[job \(job) cancelled; nothing left to stop]"), "\(r)")
                try Cluster.waitForEnd("alice", job)
                #expect(try Cluster.state("alice", job).0 == "CANCELLED")
            } else {
                #expect(r.output.contains("[job \(job) running; it keeps its node: reattach: hpcserve watch \(job)"))
                #expect(try Cluster.state("alice", job).0 == "RUNNING")
                try Cluster.hpcserve("alice", "stop \(job)")
            }
        }

        /// The job of a run that was asked whether to cancel it after its forward failed: it exits 1,
        /// with the question and the forward's error in its output.
        static func offered(_ r: Run) throws -> String {
            let job = try #require(Cluster.submittedJob(r.output), "\(r)")
            #expect(r.status == 1, "\(r)")
            #expect(r.output.contains("Cancel job \(job)? [y/N] "), "\(r)")
            #expect(r.output.contains("hpcserve: error: cannot forward to node"), "\(r)")
            return job
        }

        /// The same offer from the laptop (its own forward: HPCSERVE_REMOTE=none, node_ssh = yes):
        /// yes cancels the job and leaves nothing of it on the laptop, no keeps it.
        @Test(arguments: zip(["y", "n"], [true, false]))
        func theLaptopOffersToCancelAJobItCannotReach(_ answer: String, _ cancels: Bool) throws {
            try Self.policy("--no-ssh-to-nodes")
            defer { try? Self.policy("") }
            typealias Laptop = EndToEnd.FromTheLaptop
            Laptop.clean("lap1")
            defer { Laptop.clean("lap1") }
            let r = try Laptop.laptop(
                "lap1",
                "printf '\(answer)\\n' | script -qec 'HPCSERVE_NODE_SSH=yes HPCSERVE_REMOTE=none hpcserve --host hpc "
                    + "jupyter --time 10 --no-browser' /dev/null", timeout: 180)
            let job = try Self.offered(r)
            defer { _ = try? Cluster.cancel("alice", job) }
            if cancels {
                #expect(r.output.contains("[job \(job) is cancelled; nothing left to stop]"), "\(r)")
                try Cluster.waitForEnd("alice", job)
                #expect(try Cluster.state("alice", job).0 == "CANCELLED")
                try Cluster.waitFor("no ssh of lap1 left", seconds: 20) { try Laptop.sshOf("lap1").isEmpty }
                #expect(Laptop.loginSockets(job).isEmpty)
            } else {
                #expect(r.output.contains("[job \(job) is RUNNING; reattach: hpcserve --host hpc watch \(job)"), "\(r)")
                #expect(try Cluster.state("alice", job).0 == "RUNNING")
                let stop = try Laptop.laptop("lap1", "hpcserve --host hpc stop \(job)")
                #expect(stop.ok, "\(stop)")
            }
        }

        /// With node_ssh = yes where nodes refuse ssh, the failure is one line naming the job's state
        /// and the way back (without a terminal nothing is asked, and the job keeps its node).
        @Test func aForwardThatCannotBeMadeSaysTheJobStateOnOneLine() throws {
            try Self.policy("--no-ssh-to-nodes")
            defer { try? Self.policy("") }
            let dir = try Cluster.scratch("alice", "policy-nossh-yes")
            let r = try Cluster.on(
                "login", "alice",
                "cd \(dir) && HPCSERVE_NODE_SSH=yes hpcserve jupyter --time 10 --detach 2>&1 >/dev/null",
                timeout: 180)
            #expect(r.status == 1, "\(r)")
            // Progress lines, then the error: it and everything after it is one line.
            let lines = r.trimmed.split(separator: "\n").drop { !$0.hasPrefix("hpcserve: error: ") }
            #expect(lines.count == 1, "\(r)")
            let line = try #require(lines.first.map(String.init))
            #expect(line.hasPrefix("hpcserve: error: cannot forward to node"), "\(line)")
            #expect(line.contains("[job ") && line.contains(" running; it keeps its node: reattach: hpcserve watch "))
            let job = try #require(line.components(separatedBy: "[job ").last?.split(separator: " ").first)
            #expect(try Cluster.state("alice", String(job)).0 == "RUNNING")
            try Cluster.hpcserve("alice", "stop \(job)")
        }
    }
}
