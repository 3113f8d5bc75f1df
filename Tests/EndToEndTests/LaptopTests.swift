import Foundation
import Testing

extension EndToEnd {
    /// `hpcserve --host hpc …` from "the laptop": the root network namespace, outside the
    /// cluster's hosts, as local users lap1 and lap2 whose own ~/.ssh/config (read from the
    /// passwd home) names the login node "hpc" (Tests/Cluster/up).
    @Suite struct FromTheLaptop {
        init() throws { try Cluster.prepare() }

        static let home = "/var/lib/hpcserve-laptop"
        static let sshdLog = "/var/log/hpcserve-testbed/sshd-login.log"

        /// Runs `command` (bash) as a laptop user with a fresh login environment, in the root namespace.
        @discardableResult
        static func laptop(_ user: String, _ command: String, timeout: Int = 240) throws -> Run {
            try Cluster.local(["timeout", String(timeout), "runuser", "-l", user, "-c", command])
        }

        /// Logins of alice on the login node from the laptop's address, so far (sshd's log).
        static func logins() -> Int {
            let r = try? Cluster.local(["grep", "-c", "Accepted publickey for alice from 10.77.0.1 ", sshdLog])
            return Int(r?.trimmed ?? "") ?? -1
        }

        static func json(_ text: String) throws -> [String: Any] {
            let line = try #require(text.split(separator: "\n").last { $0.hasPrefix("{") })
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }

        /// An authenticated /api/status on the laptop's 127.0.0.1:port, as `user`.
        static func status(_ user: String, port: Int, token: String) throws -> String {
            try laptop(
                user,
                "curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Authorization: token \(token)' "
                    + "http://127.0.0.1:\(port)/api/status"
            ).trimmed
        }

        /// Every address something listens on for `port` in the laptop's namespace.
        static func listeners(_ port: Int) throws -> [String] {
            try Cluster.local(["ss", "-Hltn", "sport = :\(port)"]).output.split(separator: "\n").compactMap {
                $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.map(String.init)
            }
        }

        static func sshOf(_ user: String) throws -> String {
            try Cluster.liveProcesses(user).split(separator: "\n").filter { $0.contains("ssh") }
                .joined(separator: "\n")
        }

        /// Nothing of `user` left on the laptop: no ssh, no records.
        static func clean(_ user: String) {
            _ = try? Cluster.local(["pkill", "-u", user, "-x", "ssh"])
            _ = try? Cluster.local(["rm", "-rf", "\(home)/\(user)/.hpcserve"])
        }

        /// The job's login-side sockets that still exist.
        static func loginSockets(_ job: String) -> [String] {
            ["server.sock", "ctl.sock"].filter {
                FileManager.default.fileExists(atPath: "/home/alice/.hpcserve/jobs/\(job)/\($0)")
            }
        }

        /// Both cluster-side ways: the login node's hpcserve, and the laptop doing its part.
        @Test(arguments: ["", "HPCSERVE_REMOTE=none "])
        func oneLoginALocalURLAndStopLeavesNothing(_ remote: String) throws {
            Self.clean("lap1")
            defer { Self.clean("lap1") }
            let before = Self.logins()
            let r = try Self.laptop(
                "lap1", "\(remote)hpcserve --host hpc jupyter --time 10 --detach --json -- --nodelist=node01")
            #expect(r.ok, "\(r)")
            let out = try Self.json(r.output)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.cancel("alice", job) }
            #expect(r.output.contains(remote.isEmpty ? "waiting for the server" : "forwarding on hpc"))
            let port = try #require(out["laptop_port"] as? Int)
            #expect(port == 8888)
            let token = try #require(out["token"] as? String)
            #expect((out["url"] as? String) == "http://localhost:\(port)/lab?token=\(token)")
            #expect(try Self.status("lap1", port: port, token: token) == "200")
            #expect(try Self.status("lap1", port: port, token: "x" + token) == "403")
            // The laptop end: the loopback address only, never all addresses.
            #expect(try Self.listeners(port) == ["127.0.0.1:\(port)"])
            // The same session directory: the login node's hpcserve knows this session.
            let list = try Cluster.hpcserve("alice", "list")
            #expect(list.output.contains("\(job) ") && list.output.contains("RUNNING"), "\(list)")
            #expect(Self.loginSockets(job) == ["server.sock", "ctl.sock"])
            // And the laptop's own list, through the master (no new login: it is up).
            let mine = try Self.laptop("lap1", "\(remote)hpcserve --host hpc list")
            #expect(mine.ok && mine.output.contains("\(job) "), "\(mine)")

            let stop = try Self.laptop("lap1", "\(remote)hpcserve --host hpc stop \(job)")
            #expect(stop.ok, "\(stop)")
            #expect(stop.output.contains("cancelled") && stop.output.contains("laptop port \(port) closed"), "\(stop)")
            try Cluster.waitForEnd("alice", job)
            try Cluster.waitFor("no ssh of lap1 left", seconds: 20) { try Self.sshOf("lap1").isEmpty }
            #expect(Self.loginSockets(job).isEmpty)
            #expect(try Self.listeners(port).isEmpty)
            // sshd writes its log lines when a connection ends: all three commands went through
            // the one login of the first (the master stayed up after --detach).
            try? Cluster.waitFor("sshd's log of the login", seconds: 10) { Self.logins() > before }
            #expect(Self.logins() - before == 1, "one login for three commands: \(Self.logins()) after \(before)")
        }

        @Test func theForegroundReconnectsAnotherLaptopReattachesAndSigtermKeepsTheJob() throws {
            Self.clean("lap1")
            Self.clean("lap2")
            defer {
                Self.clean("lap1")
                Self.clean("lap2")
            }
            let dir = "\(Self.home)/lap1/e2e"
            try Self.laptop("lap1", "rm -rf \(dir) && mkdir -m 700 \(dir)")
            try Self.laptop(
                "lap1",
                "setsid -f bash -c 'hpcserve --host hpc jupyter --time 10 -- --nodelist=node01 > \(dir)/out "
                    + "2> \(dir)/err; echo $? > \(dir)/rc' < /dev/null")
            let out = "\(dir)/out"
            let err = "\(dir)/err"
            func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            try Cluster.waitFor("the URL", seconds: 180) {
                if FileManager.default.fileExists(atPath: "\(dir)/rc") {
                    throw ClusterError.failed("hpcserve ended: \(read(err))")
                }
                return read(out).contains("Then open:")
            }
            let job = try #require(
                read(err).split(separator: "\n").first { $0.contains("submitted job") }?
                    .split(separator: " ").dropFirst(3).first.map(String.init))
            defer { _ = try? Cluster.cancel("alice", job) }
            let token = try #require(
                read(out).split(separator: "=").last?.split(separator: "\n").first.map(String.init))
            #expect(try Self.status("lap1", port: 8888, token: token) == "200")

            // The network drops: the master dies; the foreground makes it again, with the forward.
            try Cluster.local(["pkill", "-u", "lap1", "-f", "ssh -M -S"])
            try Cluster.waitFor("the reconnection", seconds: 90) { read(err).contains("works again") }
            #expect(read(err).contains("the connection to hpc dropped; reconnecting"))
            #expect(try Self.status("lap1", port: 8888, token: token) == "200")

            // Another laptop user reattaches: 8888 is taken on this laptop, so the next port.
            let r = try Self.laptop("lap2", "hpcserve --host hpc watch \(job) --detach --json")
            #expect(r.ok, "\(r)")
            #expect(r.output.contains("port 8888 is taken on this laptop; using 8889"))
            #expect(try Self.json(r.output)["laptop_port"] as? Int == 8889)
            #expect(try Self.status("lap2", port: 8889, token: token) == "200")

            // SIGTERM without a terminal: the job stays.
            try Cluster.local(["pkill", "-TERM", "-u", "lap1", "-x", "hpcserve"])
            try Cluster.waitFor("lap1's hpcserve to end", seconds: 30) {
                FileManager.default.fileExists(atPath: "\(dir)/rc")
            }
            #expect(read("\(dir)/rc").trimmingCharacters(in: .whitespacesAndNewlines) == "130")
            #expect(read(err).contains("job \(job) keeps running"))
            #expect(try Cluster.state("alice", job).0 == "RUNNING")

            // stop from the second laptop: no job, no laptop ssh of its own, no login socket.
            let stop = try Self.laptop("lap2", "hpcserve --host hpc stop \(job)")
            #expect(stop.ok, "\(stop)")
            try Cluster.waitForEnd("alice", job)
            try Cluster.waitFor("no ssh of lap2 left", seconds: 20) { try Self.sshOf("lap2").isEmpty }
            #expect(Self.loginSockets(job).isEmpty)
            #expect(try Self.listeners(8889).isEmpty)
        }

        @Test func badHostsAreRefusedWithSshsOwnWords() throws {
            Self.clean("lap2")
            defer { Self.clean("lap2") }
            // Argument injection into ssh: refused before anything runs.
            let inject = try Self.laptop("lap2", "hpcserve --host '-oProxyCommand=touch /tmp/e2e-pwned' list")
            #expect(inject.status == 64, "\(inject)")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/e2e-pwned"))
            // Unreachable: exit 69 with ssh's own reason, on one line.
            let gone = try Self.laptop("lap2", "hpcserve --host nosuchhost.invalid list")
            #expect(gone.status == 69, "\(gone)")
            #expect(gone.output.contains("Could not resolve hostname"), "\(gone)")
            #expect(gone.trimmed.split(separator: "\n").count == 1, "\(gone)")
            // A changed host key: ssh's own message; checking is never turned off.
            let known = "\(Self.home)/lap2/.ssh/known_hosts"
            let saved = try String(contentsOfFile: known, encoding: .utf8)
            defer { try? saved.write(toFile: known, atomically: false, encoding: .utf8) }
            let other = try Cluster.local(["cat", "/var/lib/hpcserve-laptop/lap2/.ssh/id_ed25519.pub"]).trimmed
                .split(separator: " ").prefix(2).joined(separator: " ")
            try "login,10.77.0.10 \(other)\n".write(toFile: known, atomically: false, encoding: .utf8)
            let changed = try Self.laptop("lap2", "hpcserve --host hpc list")
            #expect(changed.status == 69, "\(changed)")
            #expect(changed.output.contains("Host key verification failed"), "\(changed)")
            #expect(try Self.sshOf("lap2").isEmpty)
        }

        @Test func anUnreadableRemoteHpcserveLeavesNoHalfMadeForward() throws {
            Self.clean("lap2")
            defer { Self.clean("lap2") }
            let dir = try Cluster.scratch("alice", "laptop-fake")
            try Cluster.write(
                "alice", dir + "/hpcserve",
                """
                #!/bin/sh
                case "$1" in
                  --version) echo "hpcserve 0.1.0" ;;
                  *) echo "<html>not json</html>" ;;
                esac
                """, mode: "755")
            let r = try Self.laptop(
                "lap2", "HPCSERVE_REMOTE=\(dir)/hpcserve hpcserve --host hpc jupyter --time 5 --detach --no-browser")
            let job = r.output.split(separator: "\n").first { $0.contains("submitted job") }?
                .split(separator: " ").dropFirst(3).first.map(String.init)
            defer { if let job { _ = try? Cluster.cancel("alice", job) } }
            #expect(r.status == 1, "\(r)")
            #expect(r.output.contains("the login node's hpcserve 0.1.0 printed"), "\(r)")
            #expect(r.output.contains("reattach: hpcserve --host hpc watch"), "\(r)")
            #expect(try Self.listeners(8888).isEmpty, "no laptop end")
        }
    }
}
