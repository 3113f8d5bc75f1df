import Foundation
import Testing

/// TensorBoard (the real one, from PyPI in the cluster's venv) and `web --command` with real
/// servers, submitted with `hpcserve APP --detach --json` and reached through the printed laptop
/// command, run on login standing in for the laptop.
extension EndToEnd {
    @Suite struct MoreAppsOnTheCluster {
        init() throws { try Cluster.prepare() }

        /// Runs `hpcserve ARGS --detach --json` in `dir` as alice; the JSON it prints.
        static func submit(_ args: String, dir: String) throws -> [String: Any] {
            let r = try Cluster.on("login", "alice", "cd \(dir) && hpcserve \(args) --detach --json", timeout: 180)
            #expect(r.ok, "\(r)")
            let line = try #require(r.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(r)")
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }

        /// Runs the printed laptop command (`ssh -N -L PORT:SOCKET alice@login`) on login with a
        /// free local port instead of `laptopPort`, then `curl` of `path` through it: status and body.
        static func throughLaptopCommand(_ command: String, laptopPort: Int, path: String, dir: String) throws -> (
            status: String, body: String
        ) {
            let port = Int.random(in: 30000...39999)
            let laptop = command.replacingOccurrences(
                of: "ssh -N -L \(laptopPort):",
                with: "ssh -o BatchMode=yes -o ExitOnForwardFailure=yes -f -N -M -S \(dir)/laptop.ctl -L \(port):")
            #expect(laptop != command, "unexpected laptop command: \(command)")
            let up = try Cluster.on("login", "alice", laptop)
            #expect(up.ok, "laptop command: \(up)")
            defer { _ = try? Cluster.on("login", "alice", "ssh -S \(dir)/laptop.ctl -O exit login") }
            let status = try Cluster.on(
                "login", "alice", "curl -s -o \(dir)/body -w '%{http_code}' 'http://localhost:\(port)\(path)'"
            ).trimmed
            return (status, (try? String(contentsOfFile: dir + "/body", encoding: .utf8)) ?? "")
        }

        /// The TCP listeners of the processes in `pid`'s process group on `node` (`ss` lines).
        static func groupListeners(node: String, pid: Int) throws -> [Substring] {
            let pids = try Cluster.on(node, "root", "pgrep -g \(pid)").trimmed.split(separator: "\n")
            #expect(!pids.isEmpty, "no process in group \(pid)")
            return try Cluster.on(node, "root", "ss -ltnpH").output.split(separator: "\n")
                .filter { line in pids.contains { line.contains("pid=\($0),") } }
        }

        static func stop(_ job: String) throws {
            try Cluster.hpcserve("alice", "stop \(job)")
            try Cluster.waitFor("job \(job) to end", seconds: 40) {
                !["RUNNING", "COMPLETING"].contains(try Cluster.state("alice", job).0)
            }
        }

        @Test func tensorBoardShowsTheLogdirThroughTheLaptopCommandAndListensOnlyOn127001() throws {
            let dir = try Cluster.scratch("alice", "tensorboard")
            // An event file with one scalar, written with tensorboard's own writer (no TensorFlow).
            try Cluster.write(
                "alice", dir + "/write.py",
                """
                import sys, time
                from tensorboard.compat.proto import event_pb2 as E, summary_pb2 as S
                from tensorboard.summary.writer.event_file_writer import EventFileWriter
                w = EventFileWriter(sys.argv[1])
                for step in range(3):
                    v = S.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))
                    w.add_event(E.Event(wall_time=time.time(), step=step, summary=S.Summary(value=[v])))
                w.close()

                """)
            let events = try Cluster.on(
                "login", "alice", "/opt/hpcserve-testbed/jupyter/bin/python3 \(dir)/write.py '\(dir)/my runs/run1'")
            #expect(events.ok, "\(events)")

            let out = try Self.submit("tensorboard --logdir 'my runs' -t 10", dir: dir)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let command = try #require(out["laptop_command"] as? String)
            #expect(command == "ssh -N -L 6006:/home/alice/.hpcserve/jobs/\(job)/server.sock alice@login")
            #expect(out["url"] as? String == "http://localhost:6006/")

            let runs = try Self.throughLaptopCommand(command, laptopPort: 6006, path: "/data/runs", dir: dir)
            #expect(runs.status == "200" && runs.body.contains("\"run1\""), "\(runs)")
            let page = try Self.throughLaptopCommand(command, laptopPort: 6006, path: "/", dir: dir)
            #expect(page.status == "200" && page.body.contains("<title>TensorBoard"), "\(page.status)")

            // Its only listener is 127.0.0.1:PORT (no data-server port with --load_fast=false).
            let conn = try Cluster.connection("alice", job)
            let node = try #require(conn["node"] as? String)
            let port = try #require(conn["port"] as? Int)
            let listeners = try Self.groupListeners(node: node, pid: try #require(conn["pid"] as? Int))
            #expect(listeners.count == 1 && listeners[0].contains("127.0.0.1:\(port) "), "\(listeners)")
            let args = try Cluster.on(node, "root", "pgrep -a -g \(try #require(conn["pid"] as? Int))").output
            #expect(args.contains("--logdir=my runs --host=127.0.0.1 --port=\(port) --load_fast=false"), "\(args)")

            try Self.stop(job)
            try Cluster.waitFor("tensorboard of job \(job) to exit", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("tensorboard")
            }
        }

        @Test func webRunsTheCommandWithItsPlaceholdersAndTheSecretInItsEnvironment() throws {
            let dir = try Cluster.scratch("alice", "web-tcp")
            try Cluster.write("alice", dir + "/hello.txt", "hello from the node\n")
            let out = try Self.submit(
                "web --command 'python3 -m http.server --bind {host} {port}' --url-path /hello.txt -t 10", dir: dir)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let command = try #require(out["laptop_command"] as? String)
            #expect(command == "ssh -N -L 8000:/home/alice/.hpcserve/jobs/\(job)/server.sock alice@login")
            #expect(out["url"] as? String == "http://localhost:8000/hello.txt")
            let hello = try Self.throughLaptopCommand(command, laptopPort: 8000, path: "/hello.txt", dir: dir)
            #expect(hello.status == "200" && hello.body == "hello from the node\n", "\(hello)")

            let conn = try Cluster.connection("alice", job)
            let node = try #require(conn["node"] as? String)
            let port = try #require(conn["port"] as? Int)
            let pid = try #require(conn["pid"] as? Int)
            let token = try #require(conn["token"] as? String)
            let listeners = try Self.groupListeners(node: node, pid: pid)
            #expect(listeners.count == 1 && listeners[0].contains("127.0.0.1:\(port) "), "\(listeners)")
            // The server is in the job's process group, with the secret in its environment, not its argv.
            let server = try Cluster.on(node, "root", "pgrep -g \(pid) -f http.server").trimmed
            #expect(!server.isEmpty)
            let environ = try Cluster.on(node, "root", "tr '\\0' '\\n' < /proc/\(server)/environ").output
            #expect(environ.contains("HPCSERVE_SECRET=\(token)\n"))
            let argv = try Cluster.on(node, "root", "tr '\\0' ' ' < /proc/\(server)/cmdline").trimmed
            #expect(argv.hasSuffix("-m http.server --bind 127.0.0.1 \(port)") && !argv.contains(token), "\(argv)")

            try Self.stop(job)
            try Cluster.waitFor("the web app of job \(job) to exit", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("http.server")
            }
        }

        @Test func aWebCommandThatIgnoresHostIsStoppedWithOneLogLine() throws {
            let dir = try Cluster.scratch("alice", "web-wide")
            // http.server without --bind listens on every address of the node.
            try Cluster.hpcserve(
                "alice", "script web --command 'python3 -m http.server {port}' -t 10 -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            try Cluster.waitFor("job \(job) to fail", seconds: 60) { try Cluster.state("alice", job).0 == "FAILED" }
            let log = Cluster.log("alice", job)
            #expect(log.contains("hpcserve: error: your --command listens on port "), "\(log)")
            #expect(!FileManager.default.fileExists(atPath: "/home/alice/.hpcserve/jobs/\(job)/connection.json"))
            try Cluster.waitFor("the web app of job \(job) to exit", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("http.server")
            }
        }

        @Test func webOnAUnixSocket() throws {
            let dir = try Cluster.scratch("alice", "web-socket")
            // A small HTTP server on the Unix socket it is given.
            try Cluster.write(
                "alice", dir + "/app.py",
                """
                import http.server, os, socketserver, sys
                class Handler(http.server.BaseHTTPRequestHandler):
                    def address_string(self): return "unix"
                    def do_GET(self):
                        body = ("socket app at %s\\n" % self.path).encode()
                        self.send_response(200); self.send_header("Content-Length", str(len(body)))
                        self.end_headers(); self.wfile.write(body)
                socketserver.UnixStreamServer(sys.argv[1], Handler).serve_forever()

                """)
            let out = try Self.submit(
                "web --listen socket --command 'python3 app.py {socket}' --probe-path /ready --url-path /app -t 10",
                dir: dir)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let command = try #require(out["laptop_command"] as? String)
            #expect(out["url"] as? String == "http://localhost:8000/app")
            let page = try Self.throughLaptopCommand(command, laptopPort: 8000, path: "/app", dir: dir)
            #expect(page.status == "200" && page.body == "socket app at /app\n", "\(page)")
            let conn = try Cluster.connection("alice", job)
            #expect(conn["port"] is NSNull)
            let node = try #require(conn["node"] as? String)
            let socket = try #require(conn["socket"] as? String)
            #expect(try Cluster.on(node, "root", "stat -c '%a %U' $(dirname \(socket))").trimmed == "700 alice")
            #expect(try Self.groupListeners(node: node, pid: try #require(conn["pid"] as? Int)).isEmpty)
            try Self.stop(job)
        }
    }
}
