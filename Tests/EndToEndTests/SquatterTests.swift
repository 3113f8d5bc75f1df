import Foundation
import Testing

/// The port-squatting attack on every mode that listens on TCP, played for real: bob runs
/// Tests/Cluster/squatter on the job's node, which reads alice's command lines for the
/// server's port and binds 127.0.0.1:PORT before her server does, answering "200 OK" to
/// anything and logging every byte it is sent. Each test first proves the squatter really
/// held a port of alice's, then that nothing of hers ever reached it.
extension EndToEnd {
    @Suite struct SquattersOnTheCluster {
        init() throws { try Cluster.prepare() }

        /// The squatter, run by bob on `node` until `stop`: its log is readable by root.
        struct Squatter {
            let node: String
            let pid: String
            let log: String
            var text: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            /// Ports it took, in order.
            var squatted: [Int] {
                text.split(separator: "\n").filter { $0.hasPrefix("SQUAT ") }.compactMap {
                    Int($0.split(separator: " ")[1])
                }
            }
            var requests: [String] { text.split(separator: "\n").filter { $0.hasPrefix("REQUEST ") }.map(String.init) }

            static func start(_ name: String, node: String = "node01", mode: String) throws -> Squatter {
                let program = "/tmp/e2e-squatter"
                try Cluster.local(["install", "-m", "0755", Cluster.packageRoot + "/Tests/Cluster/squatter", program])
                let log = "/tmp/e2e-squat-\(name).log"
                try Cluster.local(["rm", "-f", log])
                let r = try Cluster.on(
                    node, "bob", "\(program) alice \(log) \(mode) >/dev/null 2>&1 </dev/null & echo $!")
                let pid = r.trimmed
                guard r.ok, !pid.isEmpty, pid.allSatisfy(\.isNumber) else {
                    throw ClusterError.failed("squatter: \(r)")
                }
                try Cluster.waitFor("the squatter's log", seconds: 10) { FileManager.default.fileExists(atPath: log) }
                return Squatter(node: node, pid: pid, log: log)
            }

            func stop() { _ = try? Cluster.local(["kill", pid]) }

            /// Nothing the squatter was sent contains `secret` (and, where it must be so, nothing at all).
            func expectNothingReceived(of secret: String, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(
                    !text.contains(secret), "the secret reached the squatter:\n\(text)", sourceLocation: sourceLocation)
                #expect(requests.isEmpty, "the squatter was sent something:\n\(text)", sourceLocation: sourceLocation)
            }
        }

        static func json(_ text: String) throws -> [String: Any] {
            let line = try #require(text.split(separator: "\n").last { $0.hasPrefix("{") }, "no JSON in: \(text)")
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }

        /// GET `path` through the login-side socket as alice, with the token from a 0600 file.
        static func get(_ path: String, socket: String, token: String, dir: String) throws -> (
            code: String, body: String
        ) {
            try Cluster.write("alice", dir + "/hdr", "Authorization: token \(token)\n")
            let r = try Cluster.on(
                "login", "alice",
                "curl -s -m 10 -w '\\n%{http_code}' -H @\(dir)/hdr --unix-socket \(socket) http://localhost\(path)")
            let lines = r.output.split(separator: "\n", omittingEmptySubsequences: false)
            return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
        }

        @Test(arguments: [false, true])
        func jupyterTCPModeGivesTheSquatterNothingAndTheUserHerOwnServer(_ reverseTunnel: Bool) throws {
            let dir = try Cluster.scratch("alice", "squat-jupyter-\(reverseTunnel)")
            try Cluster.write("alice", dir + "/marker-file.txt", "mine\n")
            let squatter = try Squatter.start("jupyter-\(reverseTunnel)", mode: "once 20")
            defer { squatter.stop() }
            let r = try Cluster.on(
                "login", "alice",
                "cd \(dir) && hpcserve jupyter --listen tcp \(reverseTunnel ? "--reverse-tunnel" : "") -t "
                    + "10 --detach --json -- --nodelist=node01",
                timeout: 180)
            let out = try Self.json(r.output)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            #expect(r.ok, "\(r)")
            let conn = try Cluster.connection("alice", job)
            let port = try #require(conn["port"] as? Int)
            let taken = squatter.squatted
            #expect(
                !taken.isEmpty,
                "the squatter never took a port: the attack was not played\n\(Cluster.log("alice", job))")
            #expect(!taken.contains(port), "the server was published on the squatter's port \(port)")
            #expect(Cluster.log("alice", job).contains("is held by a process that is not this job's"))
            #expect(conn["socket"] as? String != nil, "a TCP server is reached through the job's relay socket")
            #expect((conn["reverse_socket"] is NSNull) == !reverseTunnel)

            // Her own server: an authenticated listing of her home through the printed socket.
            let token = try #require(out["token"] as? String)
            let socket = try #require(out["login_socket"] as? String)
            let listing = try Self.get("/api/contents", socket: socket, token: token, dir: dir)
            #expect(listing.code == "200", "\(listing)")
            #expect(listing.body.contains("marker-file.txt"), "not her own server: \(listing.body)")
            squatter.expectNothingReceived(of: token)
        }

        /// RStudio without --www-socket and ParaView listen on TCP: the same attack, with the
        /// stand-in servers (they bind 2 s after start, as a real server takes a while).
        @Test(arguments: ["rstudio", "paraview"])
        func standInTCPServersGiveTheSquatterNothing(_ app: String) throws {
            let dir = try Cluster.scratch("alice", "squat-\(app)")
            let (name, help, portOption, addressOption) =
                app == "rstudio"
                ? ("rserver", "--www-address --www-port --auth-pam-helper-path", "--www-port", "--www-address")
                : ("pvserver", "--server-port --connect-id --bind-address", "--server-port", "--bind-address")
            try StandInAppsOnTheCluster.installStub(
                "alice", dir: dir, name: name, helpText: help, portOption: portOption,
                addressOption: addressOption, delay: 2)
            let squatter = try Squatter.start(app, mode: "once 20")
            defer { squatter.stop() }
            try Cluster.hpcserve(
                "alice",
                "script \(app) -t 10 --setup 'export PATH=\(dir)/bin:$PATH' -o \(dir)/job.sh -- --nodelist=node01")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let r = try Cluster.on("login", "alice", "hpcserve watch \(job) --detach --json", timeout: 120)
            #expect(r.ok, "\(r)\n\(Cluster.log("alice", job))")
            let out = try Self.json(r.output)
            let secret = try #require(out["token"] as? String)
            let conn = try Cluster.connection("alice", job)
            let port = try #require(conn["port"] as? Int)
            #expect(!squatter.squatted.isEmpty, "the squatter never took a port\n\(Cluster.log("alice", job))")
            #expect(!squatter.squatted.contains(port))
            // Her own stand-in answers through the forward (it serves its directory listing).
            let socket = try #require(out["login_socket"] as? String)
            let own = try Cluster.on("login", "alice", "curl -s -m 10 --unix-socket \(socket) http://localhost/")
            #expect(own.output.contains("Directory listing"), "\(own)")
            squatter.expectNothingReceived(of: secret)
        }

        /// A squatter that takes every port the job tries: the job fails with one clear line,
        /// and never reports ready.
        @Test func aSquatterOnEveryPortMakesTheJobFailClearly() throws {
            let dir = try Cluster.scratch("alice", "squat-always")
            try StandInAppsOnTheCluster.installStub(
                "alice", dir: dir, name: "pvserver", helpText: "--server-port --bind-address",
                portOption: "--server-port", addressOption: "--bind-address", delay: 2)
            let squatter = try Squatter.start("always", mode: "always 60")
            defer { squatter.stop() }
            try Cluster.hpcserve(
                "alice",
                "script paraview -t 10 --setup 'export PATH=\(dir)/bin:$PATH' -o \(dir)/job.sh -- --nodelist=node01")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            let r = try Cluster.on("login", "alice", "hpcserve watch \(job) --json", timeout: 120)
            #expect(r.status == 1, "\(r)")
            #expect(!r.output.contains("laptop_command"), "reported ready: \(r)")
            #expect(r.output.contains("FAILED") && r.output.contains("before its server was ready"), "\(r)")
            #expect(
                Cluster.log("alice", job).contains("another process took the server's port 5 times in a row on node01"))
            #expect(squatter.squatted.count >= 5, "\(squatter.text)")
            #expect(squatter.requests.isEmpty, "\(squatter.text)")
        }

        /// After the server ends, bob takes its port at once; alice's forward must not carry her
        /// browser's requests (with the token) to him.
        @Test func afterTheServerEndsItsForwardLeadsNowhere() throws {
            let dir = try Cluster.scratch("alice", "squat-after")
            let r = try Cluster.on(
                "login", "alice",
                "cd \(dir) && hpcserve jupyter --listen tcp -t 10 --detach --json -- --nodelist=node01", timeout: 180)
            #expect(r.ok, "\(r)")
            let out = try Self.json(r.output)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let token = try #require(out["token"] as? String)
            let socket = try #require(out["login_socket"] as? String)
            let conn = try Cluster.connection("alice", job)
            let port = try #require(conn["port"] as? Int)
            let pid = try #require(conn["pid"] as? Int)
            #expect(try Self.get("/api/status", socket: socket, token: token, dir: dir).code == "200")

            let squatter = try Squatter.start("after", mode: "rebind \(port)")
            defer { squatter.stop() }
            // The server dies (as on a crash); the squatter takes the port the moment it is free.
            try Cluster.on("node01", "alice", "kill -KILL \(pid)")
            try Cluster.waitFor("the squatter to take port \(port)", seconds: 20) { squatter.squatted.contains(port) }
            // The browser keeps asking, token and all, through the forward it was given.
            var answers: [String] = []
            for _ in 0..<10 {
                answers.append(try Self.get("/api/status", socket: socket, token: token, dir: dir).code)
            }
            #expect(!answers.contains("200"), "a request through the forward was answered: \(answers)")
            squatter.expectNothingReceived(of: token)
        }

        /// The license snippet when bob holds most local ports on the node: it still finds a
        /// free one (the default range is wider than bob's 20000-32767), and with a range he
        /// fills completely it says "ports taken" instead of blaming ssh.
        @Test func licenseSnippetFindsAPortWhenAnotherUserHoldsMostOfThem() throws {
            let dir = try Cluster.scratch("alice", "squat-license")
            let licensePort = 27311
            _ = try SnippetsOnTheCluster.startLicenseServer(port: licensePort)
            defer { try? SnippetsOnTheCluster.stopLicenseServer(port: licensePort) }
            // bob's process on node01 listens on 20000-32767 and 24000-24009 is within it.
            let hog = "/tmp/e2e-port-hog"
            try Cluster.write(
                "root", hog,
                """
                import resource, socket, sys, time
                resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
                held, missed = [], []
                for p in range(20000, 32768):
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind(("127.0.0.1", p)); s.listen(1); held.append(s)
                    except OSError:
                        missed.append(str(p))
                with open(sys.argv[1], "w") as f:
                    f.write("MISSED %s\\nHOLDING %d\\n" % (" ".join(missed), len(held)))
                time.sleep(300)

                """, mode: "644")
            let ready = "/tmp/e2e-port-hog.ready"
            try Cluster.local(["rm", "-f", ready])
            let hogPID = try Cluster.on("node01", "bob", "python3 \(hog) \(ready) >/dev/null 2>&1 </dev/null & echo $!")
                .trimmed
            defer { _ = try? Cluster.local(["kill", hogPID]) }
            try Cluster.waitFor("bob to hold the ports", seconds: 60) {
                ((try? String(contentsOfFile: ready, encoding: .utf8)) ?? "").contains("HOLDING ")
            }
            let report = try String(contentsOfFile: ready, encoding: .utf8)
            let missed = Set(
                report.split(separator: "\n").first { $0.hasPrefix("MISSED") }?.split(separator: " ").dropFirst()
                    .compactMap { Int($0) } ?? [])
            #expect(missed.count < 100, "bob could not take most of 20000-32767: \(report)")
            #expect(missed.isDisjoint(with: 24000...24009), "the narrow range must be all bob's: \(report)")
            let wide = try Cluster.hpcserve(
                "alice", "snippet license --gateway login --server 127.0.0.1 --port \(licensePort)"
            ).output
            let narrow = try Cluster.hpcserve(
                "alice",
                "snippet license --gateway login --server 127.0.0.1 --port \(licensePort) --port-range 24000-24009"
            ).output
            try Cluster.write(
                "alice", dir + "/job.sh",
                """
                #!/bin/bash
                #SBATCH --job-name=e2e-license-hog
                #SBATCH --output=\(dir)/job-%j.out
                #SBATCH --nodelist=node01
                (
                \(narrow)
                echo "narrow: reached"
                )
                echo "narrow: exit $?"
                \(wide)
                echo "wide: MLM_LICENSE_FILE=$MLM_LICENSE_FILE"
                echo "wide: fetched $(curl -s -m 10 "http://localhost:${MLM_LICENSE_FILE%@*}/feature")"

                """)
            let job = try Cluster.submit("alice", dir + "/job.sh")
            try Cluster.waitFor("license job \(job) to end", seconds: 90) {
                ["COMPLETED", "FAILED", "CANCELLED"].contains(try Cluster.state("alice", job).0)
            }
            let out = try String(contentsOfFile: "\(dir)/job-\(job).out", encoding: .utf8)
            #expect(out.contains("error: ports taken: every local port in 24000-24009"), "\(out)")
            #expect(!out.contains("check that 'ssh"), "a port problem was blamed on ssh: \(out)")
            #expect(out.contains("narrow: exit 1") && !out.contains("narrow: reached"), "\(out)")
            let local = try #require(
                out.split(separator: "\n").first { $0.hasPrefix("wide: MLM_LICENSE_FILE=") }
                    .flatMap { Int($0.dropFirst("wide: MLM_LICENSE_FILE=".count).split(separator: "@").first ?? "") },
                "\(out)")
            #expect(!(20000...32767).contains(local) || missed.contains(local), "picked a port bob holds: \(local)")
            #expect(out.contains("wide: fetched LICENSE-GRANTED"), "\(out)")
            #expect(!out.contains("failed: another process took the port"), "a port in use was tried: \(out)")
        }
    }
}
