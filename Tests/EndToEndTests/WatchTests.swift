import Foundation
import Testing

extension EndToEnd {
    /// `hpcserve APP`, `watch`, `list`, `stop` on the real cluster, including the bad days.
    @Suite struct WatcherOnTheCluster {
        init() throws { try Cluster.prepare() }

        static func json(_ text: String) throws -> [String: Any] {
            let line = try #require(text.split(separator: "\n").last { $0.hasPrefix("{") })
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }

        /// Runs the printed laptop command on login (standing in for the laptop) with a local
        /// port, and returns the status of an authenticated /api/status through it.
        static func throughLaptopCommand(_ command: String, token: String, dir: String) throws -> String {
            let port = Int.random(in: 30000...39999)
            let laptop = command.replacingOccurrences(
                of: "ssh -N -L 8888:",
                with: "ssh -o BatchMode=yes -o ExitOnForwardFailure=yes -f -N -M -S \(dir)/laptop.ctl -L \(port):")
            #expect(laptop != command, "unexpected laptop command: \(command)")
            let up = try Cluster.on("login", "alice", laptop)
            #expect(up.ok, "laptop command: \(up)")
            defer { _ = try? Cluster.on("login", "alice", "ssh -S \(dir)/laptop.ctl -O exit login") }
            try Cluster.write("alice", dir + "/hdr", "Authorization: token \(token)\n")
            return try Cluster.on(
                "login", "alice",
                "curl -s -o /dev/null -w '%{http_code}' -H @\(dir)/hdr http://localhost:\(port)/api/status"
            ).trimmed
        }

        /// Starts `hpcserve ARGS` in the background as alice; output in dir/out, dir/err, dir/rc.
        static func background(_ args: String, dir: String) throws {
            try Cluster.on(
                "login", "alice",
                "setsid -f bash -c 'hpcserve \(args) > \(dir)/out 2> \(dir)/err; echo $? > \(dir)/rc' < /dev/null")
        }

        static func file(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        static func noSshLeft() throws {
            try Cluster.waitFor("no ssh of alice left", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("ssh ")
            }
        }

        @Test func submitToAWorkingLaptopURLThenListAndStop() throws {
            let dir = try Cluster.scratch("alice", "watch-submit")
            let r = try Cluster.on(
                "login", "alice", "cd \(dir) && hpcserve jupyter --time 10 --detach --json", timeout: 180)
            #expect(r.ok, "\(r)")
            let out = try Self.json(r.output)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let socket = try #require(out["login_socket"] as? String)
            #expect(socket == "/home/alice/.hpcserve/jobs/\(job)/server.sock")
            let command = try #require(out["laptop_command"] as? String)
            #expect(command == "ssh -N -L 8888:\(socket) alice@login")
            let token = try #require(out["token"] as? String)
            #expect((out["url"] as? String) == "http://localhost:8888/lab?token=\(token)")
            #expect(out["state"] as? String == "RUNNING")
            #expect(out["node"] as? String != nil)
            #expect(try Self.throughLaptopCommand(command, token: token, dir: dir) == "200")
            #expect(try Cluster.on("login", "root", "stat -c %a \(socket)").trimmed == "600")

            let list = try Cluster.hpcserve("alice", "list --json").output
            let rows = try #require(
                try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]], "\(list)")
            let row = try #require(rows.first { ($0["job_id"] as? Int)?.description == job }, "\(list)")
            #expect(row["app"] as? String == "jupyter" && row["state"] as? String == "RUNNING", "\(row)")
            try Cluster.hpcserve("alice", "stop \(job)")
            try Cluster.waitFor("job \(job) to end", seconds: 30) {
                !["RUNNING", "COMPLETING"].contains(try Cluster.state("alice", job).0)
            }
            #expect(!FileManager.default.fileExists(atPath: socket))
            #expect(!FileManager.default.fileExists(atPath: "/home/alice/.hpcserve/jobs/\(job)/connection.json"))
            try Self.noSshLeft()
        }

        @Test func watchAttachesToAHandSubmittedJob() throws {
            let dir = try Cluster.scratch("alice", "watch-hand")
            try Cluster.hpcserve("alice", "script jupyter -t 10 --listen tcp -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let r = try Cluster.on(
                "login", "alice",
                "hpcserve watch \(job) --detach --json --login-host login.example.org --laptop-port 9999", timeout: 180)
            #expect(r.ok, "\(r)")
            let out = try Self.json(r.output)
            let command = try #require(out["laptop_command"] as? String)
            #expect(command == "ssh -N -L 9999:/home/alice/.hpcserve/jobs/\(job)/server.sock alice@login.example.org")
            let token = try #require(out["token"] as? String)
            let viaLogin = command.replacingOccurrences(of: "ssh -N -L 9999:", with: "ssh -N -L 8888:")
                .replacingOccurrences(of: "login.example.org", with: "login")
            #expect(try Self.throughLaptopCommand(viaLogin, token: token, dir: dir) == "200")
        }

        @Test func aJobThatFailsAtStartIsReportedWithItsLogTail() throws {
            let dir = try Cluster.scratch("alice", "watch-fail")
            let r = try Cluster.on(
                "login", "alice", "cd \(dir) && hpcserve jupyter -t 10 --module no-such-module/2.0", timeout: 120)
            #expect(r.status == 1, "\(r)")
            #expect(r.output.contains("hpcserve: error: job "), "\(r)")
            #expect(r.output.contains("FAILED"), "\(r)")
            #expect(
                r.output.contains("  | ") && r.output.contains("module load no-such-module/2.0 failed"),
                "log tail: \(r)")
        }

        @Test func aJobCancelledWhileWatchedEndsTheWatchAndTheForward() throws {
            let dir = try Cluster.scratch("alice", "watch-cancel")
            try Self.background("jupyter -t 10", dir: dir)
            try Cluster.waitFor("the laptop command", seconds: 90) {
                Self.file(dir + "/out").contains("On your laptop:")
            }
            let job = try #require(Self.file(dir + "/err").split(separator: " ").drop { $0 != "job" }.dropFirst().first)
                .description
            #expect(try Cluster.liveProcesses("alice").contains("ssh -o BatchMode=yes"))
            try Cluster.on("login", "alice", "scancel \(job)")
            try Cluster.waitFor("the watcher to exit", seconds: 60) { !Self.file(dir + "/rc").isEmpty }
            #expect(Self.file(dir + "/rc").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            #expect(Self.file(dir + "/err").contains("CANCELLED"), Comment(rawValue: Self.file(dir + "/err")))
            #expect(!FileManager.default.fileExists(atPath: "/home/alice/.hpcserve/jobs/\(job)/server.sock"))
            try Self.noSshLeft()
        }

        @Test func aKilledForwardIsRecreatedAndSigtermKeepsTheJob() throws {
            let dir = try Cluster.scratch("alice", "watch-kill")
            try Self.background("jupyter -t 10", dir: dir)
            try Cluster.waitFor("the laptop command", seconds: 90) {
                Self.file(dir + "/out").contains("On your laptop:")
            }
            let job = try #require(Self.file(dir + "/err").split(separator: " ").drop { $0 != "job" }.dropFirst().first)
                .description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let session = "/home/alice/.hpcserve/jobs/\(job)"
            let conn = try Cluster.connection("alice", job)
            let token = try #require(conn["token"] as? String)
            try Cluster.on("login", "alice", "pkill -f -- '-S \(session)/ctl[.]sock -f'")
            try Cluster.waitFor("the forward to be re-created", seconds: 40) {
                Self.file(dir + "/err").contains("re-creating it")
            }
            try Cluster.write("alice", dir + "/hdr", "Authorization: token \(token)\n")
            try Cluster.waitFor("the re-created forward to answer", seconds: 20) {
                try Cluster.on(
                    "login", "alice",
                    "curl -s -o /dev/null -w '%{http_code}' --unix-socket \(session)/server.sock -H "
                        + "@\(dir)/hdr http://localhost/api/status"
                ).trimmed == "200"
            }
            // SIGTERM without a terminal: the job keeps running, and we are told how to come back.
            try Cluster.on("login", "alice", "pkill -TERM -u alice -x hpcserve || true")
            try Cluster.waitFor("the watcher to exit", seconds: 30) { !Self.file(dir + "/rc").isEmpty }
            #expect(Self.file(dir + "/rc").trimmingCharacters(in: .whitespacesAndNewlines) == "130")
            #expect(Self.file(dir + "/err").contains("Reattach: hpcserve watch \(job)"))
            #expect(try Cluster.state("alice", job).0 == "RUNNING")
        }

        @Test func slurmctldDownWhileAJobPendsIsWaitedOut() throws {
            let dir = try Cluster.scratch("alice", "watch-ctld")
            // Fill both nodes so the watched job pends.
            let blocker = "#!/bin/bash\n#SBATCH --exclusive\n#SBATCH --output=/dev/null\nsleep 300\n"
            try Cluster.write("bob", "/home/bob/e2e-blocker.sh", blocker)
            let b1 = try Cluster.submit("bob", "/home/bob/e2e-blocker.sh")
            let b2 = try Cluster.submit("bob", "/home/bob/e2e-blocker.sh")
            defer {
                try? Cluster.cancel("bob", b1)
                try? Cluster.cancel("bob", b2)
            }
            try Cluster.waitFor("both nodes busy", seconds: 30) {
                try Cluster.state("bob", b1).0 == "RUNNING" && Cluster.state("bob", b2).0 == "RUNNING"
            }
            try Self.background("jupyter -t 10", dir: dir)
            try Cluster.waitFor("the job to pend", seconds: 30) { Self.file(dir + "/err").contains("pending") }
            let job = try #require(Self.file(dir + "/err").split(separator: " ").drop { $0 != "job" }.dropFirst().first)
                .description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            try Cluster.local(["bash", "-c", "kill $(cat /run/hpcserve-testbed/slurmctld.pid)"])
            try Cluster.waitFor("the watcher to notice", seconds: 120) {
                Self.file(dir + "/err").contains("slurmctld does not answer")
            }
            let up = try Cluster.local([Cluster.packageRoot + "/Tests/Cluster/up"])
            #expect(up.ok, "\(up)")
            try Cluster.cancel("bob", b1)
            try Cluster.waitFor("the laptop command after the outage", seconds: 180) {
                Self.file(dir + "/out").contains("On your laptop:")
            }
            #expect(Self.file(dir + "/err").contains("slurmctld answers again"))
            #expect(Self.file(dir + "/rc").isEmpty, "the watcher is still watching")
            try Cluster.on("login", "alice", "pkill -TERM -u alice -x hpcserve || true")
        }

        @Test func aRequeuedJobIsFollowedToTheOtherNode() throws {
            let dir = try Cluster.scratch("alice", "watch-requeue")
            try Self.background("jupyter -t 10", dir: dir)
            try Cluster.waitFor("the laptop command", seconds: 90) {
                Self.file(dir + "/out").contains("On your laptop:")
            }
            let job = try #require(Self.file(dir + "/err").split(separator: " ").drop { $0 != "job" }.dropFirst().first)
                .description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let first = try Cluster.state("alice", job).1
            let other = first == "node01" ? "node02" : "node01"
            // A requeued job waits a few seconds (BeginTime) before it may start: keep it off its old node.
            let requeue = try Cluster.on(
                "login", "root", "scontrol requeue \(job) && scontrol update jobid=\(job) ExcNodeList=\(first)")
            #expect(requeue.ok, "\(requeue)")
            try Cluster.waitFor("the job to run on \(other)", seconds: 180) {
                try Cluster.state("alice", job) == ("RUNNING", other)
            }
            try Cluster.waitFor("the watcher to follow", seconds: 120) {
                Self.file(dir + "/out").components(separatedBy: "On your laptop:").count == 3
            }
            #expect(Self.file(dir + "/err").contains("requeued: \(first) -> \(other)"))
            let conn = try Cluster.connection("alice", job)
            #expect(conn["node"] as? String == other)
            try Cluster.write("alice", dir + "/hdr", "Authorization: token \(try #require(conn["token"] as? String))\n")
            #expect(
                try Cluster.on(
                    "login", "alice",
                    "curl -s -o /dev/null -w '%{http_code}' --unix-socket "
                        + "/home/alice/.hpcserve/jobs/\(job)/server.sock -H @\(dir)/hdr http://localhost/api/status"
                ).trimmed == "200")
            try Cluster.on("login", "alice", "pkill -TERM -u alice -x hpcserve || true")
        }
    }
}

extension EndToEnd.WatcherOnTheCluster {
    @Test func aDetachedForwardEndsByItselfWhenTheJobEnds() throws {
        let dir = try Cluster.scratch("alice", "watch-detached-end")
        let r = try Cluster.on(
            "login", "alice", "cd \(dir) && hpcserve jupyter --time 10 --detach --json", timeout: 180)
        #expect(r.ok, "\(r)")
        let job = try #require(try Self.json(r.output)["job_id"] as? Int).description
        defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
        #expect(try Cluster.liveProcesses("alice").contains("-S /home/alice/.hpcserve/jobs/\(job)/ctl.sock"))
        try Cluster.on("login", "alice", "scancel \(job)")
        // No watcher is running: the forward's ssh ends with the server (its remote `kill -0` loop).
        try Cluster.waitFor("the detached forward to end with the job", seconds: 60) {
            !(try Cluster.liveProcesses("alice")).contains("-S /home/alice/.hpcserve/jobs/\(job)/ctl.sock")
        }
        // `list` tidies what ssh leaves (it never unlinks its socket) once Slurm says the job is
        // over (the forward can end while the job is still COMPLETING, its trap stopping Jupyter).
        try Cluster.waitForEnd("alice", job, seconds: 60)
        try Cluster.hpcserve("alice", "list")
        #expect(!FileManager.default.fileExists(atPath: "/home/alice/.hpcserve/jobs/\(job)/server.sock"))
    }
}
