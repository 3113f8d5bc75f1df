import Foundation
import Testing

/// code-server is in neither Debian nor PyPI: these tests run the generated script in real jobs
/// with a stand-in `code-server` that records its argv, environment and config file, and serves
/// HTTP on the socket it is given (`/healthz`, and `/check?password=…` against its config), so
/// everything around the server is checked through the printed laptop command.
extension EndToEnd {
    @Suite struct CodeServerOnTheCluster {
        init() throws { try Cluster.prepare() }

        /// The stand-in: `--version` prints `version` as code-server does; otherwise it records what
        /// it was given and serves HTTP on `--socket` (made with `--socket-mode`).
        static func installStandIn(dir: String, version: String) throws {
            try Cluster.on("login", "alice", "mkdir -p \(dir)/bin")
            try Cluster.write(
                "alice", "\(dir)/bin/code-server",
                """
                #!/bin/bash
                if [[ $1 == --version ]]; then echo '\(version) 0123abcd with Code 1.79.2'; exit 0; fi
                printf '%s\\n' "$@" > \(dir)/args
                env > \(dir)/env
                while (($#)); do
                  case $1 in --config) config=$2 ;; --socket) socket=$2 ;; --socket-mode) mode=$2 ;; esac
                  shift
                done
                cp "$config" \(dir)/config && stat -c %a "$config" > \(dir)/config-mode
                exec python3 \(dir)/serve.py "$socket" "$mode" "$config"

                """, mode: "700")
            try Cluster.write(
                "alice", "\(dir)/serve.py",
                """
                import http.server, os, re, socketserver, sys, urllib.parse
                sock, mode, config = sys.argv[1:4]
                password = re.search(r'^password: "(.*)"$', open(config).read(), re.M).group(1)
                class Handler(http.server.BaseHTTPRequestHandler):
                    def address_string(self): return "unix"
                    def do_GET(self):
                        url = urllib.parse.urlparse(self.path)
                        given = urllib.parse.parse_qs(url.query).get("password", [""])[0]
                        ok = url.path == "/healthz" or (url.path == "/check" and given == password)
                        self.send_response(200 if ok else 401); self.send_header("Content-Length", "0")
                        self.end_headers()
                server = socketserver.UnixStreamServer(sock, Handler)
                os.chmod(sock, int(mode, 8))
                server.serve_forever()

                """)
        }

        @Test func codeServerGetsAPrivateSocketAndThePasswordOnlyThroughA0600ConfigFile() throws {
            let dir = try Cluster.scratch("alice", "code-server")
            try Self.installStandIn(dir: dir, version: "4.14.1")
            let r = try Cluster.on(
                "login", "alice",
                "cd \(dir) && PASSWORD=from-env hpcserve code-server -t 10 --setup 'export PATH=\(dir)/bin:$PATH' "
                    + "--detach --json", timeout: 180)
            #expect(r.ok, "\(r)")
            let line = try #require(r.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(r)")
            let out = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let password = try #require(out["token"] as? String)
            let command = try #require(out["laptop_command"] as? String)
            #expect(command == "ssh -N -L 8080:/home/alice/.hpcserve/jobs/\(job)/server.sock alice@login")
            #expect(out["url"] as? String == "http://localhost:8080/")

            // The per-job password opens it through the laptop command; another does not.
            let laptop = MoreAppsOnTheCluster.throughLaptopCommand
            #expect(try laptop(command, 8080, "/check?password=\(password)", dir).status == "200")
            #expect(try laptop(command, 8080, "/check?password=wrong", dir).status == "401")

            let conn = try Cluster.connection("alice", job)
            let node = try #require(conn["node"] as? String)
            let socket = try #require(conn["socket"] as? String)
            let nodeDir = (socket as NSString).deletingLastPathComponent
            let args = try String(contentsOfFile: dir + "/args", encoding: .utf8).split(separator: "\n").map(
                String.init)
            let expected = [
                "--config", "\(nodeDir)/code-server.yaml", "--user-data-dir", "/home/alice/.local/share/code-server",
                "--session-socket", "\(nodeDir)/code-server-ipc.sock", "--disable-telemetry",
                "--disable-update-check", "--socket", socket, "--socket-mode", "600",
            ]
            #expect(args == expected, "\(args)")
            #expect(!args.joined().contains(password), "the password is in code-server's argv")
            let env = try String(contentsOfFile: dir + "/env", encoding: .utf8)
            #expect(!env.contains(password) && !env.contains("PASSWORD="), "the password is in its environment")
            #expect(
                try String(contentsOfFile: dir + "/config", encoding: .utf8)
                    == "auth: password\npassword: \"\(password)\"\ncert: false\n")
            #expect(try String(contentsOfFile: dir + "/config-mode", encoding: .utf8) == "600\n")
            #expect(try Cluster.on(node, "root", "stat -c '%a %U' \(nodeDir)").trimmed == "700 alice")
            let data = try Cluster.on("login", "root", "stat -c %a /home/alice/.local/share/code-server")
            #expect(data.trimmed == "700", "\(data)")

            try Cluster.hpcserve("alice", "stop \(job)")
            try Cluster.waitFor("the config file to be removed with the node directory", seconds: 40) {
                try Cluster.on(node, "root", "test -e \(nodeDir)").status != 0
            }
        }

        @Test func anOlderCodeServerStopsTheJobWithOneLogLine() throws {
            let dir = try Cluster.scratch("alice", "code-server-old")
            try Self.installStandIn(dir: dir, version: "4.14.0")
            try Cluster.hpcserve(
                "alice", "script code-server -t 10 --setup 'export PATH=\(dir)/bin:$PATH' -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            try Cluster.waitFor("job \(job) to fail", seconds: 60) { try Cluster.state("alice", job).0 == "FAILED" }
            let log = Cluster.log("alice", job)
            let line = "hpcserve: error: code-server 4.14.0 is older than 4.14.1, whose session socket"
            #expect(log.contains(line), "\(log)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/args"), "the old code-server was started")
        }
    }
}
