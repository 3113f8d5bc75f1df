import Foundation
import Testing

/// RStudio Server and ParaView are not installed here (RStudio Server is not in Debian or PyPI;
/// Debian's ParaView 5.11 is 1 GB and predates --bind-address). These tests run the generated
/// scripts for real in real jobs with a stand-in `rserver`/`pvserver` that records its argv and
/// environment and listens where it is told, so everything around the server is checked:
/// arguments, the password helper, directories, modes, readiness and connection.json.
extension EndToEnd {
    @Suite struct StandInAppsOnTheCluster {
        init() throws { try Cluster.prepare() }

        /// A stand-in server: `--help` prints `helpText`; otherwise it records argv and env and
        /// serves HTTP (or just listens) on the port named by `portOption`, on `addressOption`'s
        /// address (0.0.0.0 when it has none, like pvserver before 5.13).
        /// `delay`: seconds before it binds, as a real server takes a while to start.
        static func installStub(
            _ user: String, dir: String, name: String, helpText: String, portOption: String, addressOption: String?,
            delay: Int = 0
        ) throws {
            try Cluster.on("login", user, "mkdir -p \(dir)/bin")
            try Cluster.write(
                user, "\(dir)/bin/\(name)",
                """
                #!/bin/bash
                if [[ $1 == --help ]]; then printf '%s\\n' \(helpText.split(separator: " ").map { "'\($0)'" }.joined(separator: " ")); exit 0; fi
                printf '%s\\n' "$@" > \(dir)/args
                env > \(dir)/env
                port= addr=0.0.0.0
                for a in "$@"; do
                  case $a in \(portOption)=*) port=${a#*=} ;; \(addressOption ?? "--no-such-option")=*) addr=${a#*=} ;; esac
                done
                sleep \(delay)
                echo "Accepting connection(s): $(hostname):$port"
                exec python3 -m http.server "$port" --bind "$addr"

                """, mode: "700")
        }

        @Test func rstudioScriptRunsRserverAsTheUserWithAPasswordHelperAndPrivateFiles() throws {
            let dir = try Cluster.scratch("alice", "rstudio")
            try Self.installStub(
                "alice", dir: dir, name: "rserver", helpText: "--www-address --www-port --auth-pam-helper-path",
                portOption: "--www-port", addressOption: "--www-address")
            try Cluster.hpcserve(
                "alice", "script rstudio -t 10 --setup 'export PATH=\(dir)/bin:$PATH' -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            let conn = try Cluster.connection("alice", job)
            let node = try #require(conn["node"] as? String)
            let port = try #require(conn["port"] as? Int)
            let password = try #require(conn["token"] as? String)
            #expect(conn["secret_kind"] as? String == "password")
            #expect(conn["user"] as? String == "alice")
            let session = "/home/alice/.hpcserve/jobs/\(job)"

            let args = try String(contentsOfFile: dir + "/args", encoding: .utf8).split(separator: "\n").map(
                String.init)
            for expected in [
                "--server-user=alice", "--auth-none=0", "--www-address=127.0.0.1", "--www-port=\(port)",
                "--auth-pam-helper-path=\(session)/rstudio-auth", "--server-daemonize=0",
                "--database-config-file=\(session)/rstudio-database.conf",
                "--secure-cookie-key-file=\(session)/rstudio-secure-cookie-key",
            ] {
                #expect(args.contains(expected), "rserver argv lacks \(expected): \(args)")
            }
            #expect(!args.joined().contains(password), "the password is in rserver's argv")
            let dataDir = try #require(args.first { $0.hasPrefix("--server-data-dir=") }).dropFirst(
                "--server-data-dir=".count)
            #expect(
                try Cluster.on(node, "root", "stat -c '%a %U' \(dataDir) $(dirname \(dataDir))").trimmed
                    == "700 alice\n700 alice")
            let env = try String(contentsOfFile: dir + "/env", encoding: .utf8)
            #expect(
                env.contains("TMPDIR=\((dataDir as NSString).deletingLastPathComponent)/tmp\n"),
                "rsession gets a private TMPDIR")

            // Files: the password and key 0600, the helper 0700, all in the private session directory.
            #expect(
                try Cluster.on(
                    "login", "root",
                    "cd \(session) && stat -c '%n %a' rstudio-password rstudio-secure-cookie-key "
                        + "rstudio-database.conf rstudio-auth"
                ).trimmed
                    == "rstudio-password 600\nrstudio-secure-cookie-key 600\nrstudio-database.conf "
                    + "600\nrstudio-auth 700"
            )
            let dbconf = try String(contentsOfFile: session + "/rstudio-database.conf", encoding: .utf8)
            #expect(dbconf.hasPrefix("provider=sqlite\ndirectory=/"))
            let helperText = try String(contentsOfFile: session + "/rstudio-auth", encoding: .utf8)
            #expect(!helperText.contains(password), "the helper must read the password, not contain it")

            // The helper, run for real the way rserver runs it: user name first, password on stdin
            // without a newline (newer rserver versions add two more arguments).
            let helper = "\(session)/rstudio-auth"
            let pwFile = dir + "/pw"
            try Cluster.write("alice", pwFile, password)
            try Cluster.write("alice", dir + "/wrong", "not-the-password")
            #expect(try Cluster.on(node, "alice", "\(helper) alice < \(pwFile)").status == 0)
            #expect(try Cluster.on(node, "alice", "\(helper) alice rstudio 0 < \(pwFile)").status == 0)
            #expect(try Cluster.on(node, "alice", "\(helper) alice < \(dir)/wrong").status == 1)
            #expect(try Cluster.on(node, "alice", "\(helper) bob < \(pwFile)").status == 1)
            #expect(try Cluster.on(node, "alice", "\(helper) alice < /dev/null").status == 1)
            let bob = try Cluster.on(node, "bob", "\(helper) alice < /dev/null")
            #expect(bob.status != 0 && bob.output.contains("Permission denied"), "\(bob)")

            // Listens on 127.0.0.1 only.
            let local = try Cluster.on(node, "root", "ss -ltnH 'sport = :\(port)' | awk '{print $4}'").trimmed
            #expect(local == "127.0.0.1:\(port)", "local addresses listening on \(port): \(local)")

            try Cluster.cancel("alice", job)
            try Cluster.waitFor("the password file to stay private after the job", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("http.server \(port)")
            }
        }

        @Test(arguments: [false, true])
        func paraviewScriptUsesAConnectIDAndBindsLoopbackWhenPvserverCan(_ hasBindAddress: Bool) throws {
            let dir = try Cluster.scratch("alice", "paraview-\(hasBindAddress)")
            let help =
                "--server-port --connect-id --force-offscreen-rendering" + (hasBindAddress ? " --bind-address" : "")
            try Self.installStub(
                "alice", dir: dir, name: "pvserver", helpText: help,
                portOption: "--server-port", addressOption: hasBindAddress ? "--bind-address" : nil)
            try Cluster.hpcserve(
                "alice", "script paraview -t 10 --setup 'export PATH=\(dir)/bin:$PATH' -o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            let conn = try Cluster.connection("alice", job)
            let port = try #require(conn["port"] as? Int)
            let connectID = try #require(conn["token"] as? String)
            #expect(conn["secret_kind"] as? String == "connect-id")
            #expect(Int(connectID).map { (1...2_147_483_647).contains($0) } == true, "connect-id \(connectID)")
            let args = try String(contentsOfFile: dir + "/args", encoding: .utf8).split(separator: "\n").map(
                String.init)
            #expect(args.contains("--force-offscreen-rendering"))
            #expect(args.contains("--server-port=\(port)"))
            #expect(args.contains("--connect-id=\(connectID)"))
            #expect(args.contains("--bind-address=127.0.0.1") == hasBindAddress)
            let log = Cluster.log("alice", job)
            #expect(log.contains("warning: this pvserver has no --bind-address") == !hasBindAddress, "\(log)")
        }
    }
}
