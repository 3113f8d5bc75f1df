import Foundation
import Testing

/// Apptainer cannot be installed here (it is neither in Debian's main archive for this release nor
/// on PyPI): these tests run `--container` jobs with a stand-in `apptainer` that records its
/// arguments, then runs the command it was given on the node itself, as `apptainer exec` would
/// in the image. What is checked: the wrapping, the binds, and that the server still answers
/// through the printed laptop command. Whether a real image starts is not tested here.
extension EndToEnd {
    @Suite struct ContainerOnTheCluster {
        init() throws { try Cluster.prepare() }

        /// `DIR/bin/apptainer`: records argv (one per line) in DIR/apptainer-args, then runs the
        /// command after `exec [--bind B]... IMAGE`.
        static func installStandIn(dir: String) throws {
            try Cluster.on("login", "alice", "mkdir -p \(dir)/bin")
            try Cluster.write(
                "alice", "\(dir)/bin/apptainer",
                """
                #!/bin/bash
                printf '%s\\n' "$@" >> \(dir)/apptainer-args
                [[ $1 == exec ]] || exit 2
                shift
                while [[ $1 == --bind ]]; do shift 2; done
                shift   # the image
                exec "$@"

                """, mode: "700")
        }

        static func lines(_ path: String) throws -> [String] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        }

        @Test func jupyterInAContainerAnswersThroughTheLaptopCommand() throws {
            let dir = try Cluster.scratch("alice", "container-jupyter")
            try Self.installStandIn(dir: dir)
            let out = try MoreAppsOnTheCluster.submit(
                "jupyter --container docker://quay.io/jupyter/base-notebook -t 10 "
                    + "--setup 'export PATH=\(dir)/bin:$PATH'", dir: dir)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let command = try #require(out["laptop_command"] as? String)
            let token = try #require(out["token"] as? String)
            #expect(
                try WatcherOnTheCluster.throughLaptopCommand(command, token: token, dir: dir) == "200")
            let conn = try Cluster.connection("alice", job)
            let nodeDir = ((try #require(conn["socket"] as? String)) as NSString).deletingLastPathComponent
            let args = try Self.lines(dir + "/apptainer-args")
            #expect(
                Array(args.prefix(8)) == [
                    "exec", "--bind", nodeDir, "--bind", "/home/alice/.hpcserve/jobs/\(job)",
                    "docker://quay.io/jupyter/base-notebook", "jupyter", "lab",
                ], "\(args)")
            #expect(!args.joined().contains(token))
            #expect(Cluster.log("alice", job).contains("the server runs in docker://quay.io/jupyter/base-notebook"))
        }

        @Test func rstudioInAContainerGetsTheRockerBinds() throws {
            let dir = try Cluster.scratch("alice", "container-rstudio")
            try Self.installStandIn(dir: dir)
            try StandInAppsOnTheCluster.installStub(
                "alice", dir: dir, name: "rserver", helpText: "--www-address --www-port",
                portOption: "--www-port", addressOption: "--www-address")
            try Cluster.hpcserve(
                "alice",
                "script rstudio --container /images/rocker.sif -t 10 --setup 'export PATH=\(dir)/bin:$PATH' "
                    + "-o \(dir)/job.sh")
            let job = try Cluster.submit("alice", dir + "/job.sh")
            defer { try? Cluster.cancel("alice", job) }
            let conn = try Cluster.connection("alice", job)
            let nodeDir = ((try #require(conn["socket"] as? String)) as NSString).deletingLastPathComponent
            let args = try Self.lines(dir + "/apptainer-args")
            #expect(
                Array(args.prefix(14)) == [
                    "exec", "--bind", "\(nodeDir)/rstudio-run:/run", "--bind", "\(nodeDir)/tmp:/tmp",
                    "--bind", "\(nodeDir)/rstudio-var-lib:/var/lib/rstudio-server", "--bind", nodeDir,
                    "--bind", "/home/alice/.hpcserve/jobs/\(job)", "/images/rocker.sif", "rserver",
                    "--server-user=alice",
                ], "\(args)")
            let rserver = try Self.lines(dir + "/args")
            #expect(rserver.contains("--database-config-file=/home/alice/.hpcserve/jobs/\(job)/rstudio-database.conf"))
            #expect(!rserver.contains { $0.hasPrefix("--rsession-which-r") }, "the host's R in the image: \(rserver)")
        }

        @Test func codeServerInAContainerChecksItsVersionThereAndGetsItsDataDirectory() throws {
            let dir = try Cluster.scratch("alice", "container-code-server")
            try Self.installStandIn(dir: dir)
            try CodeServerOnTheCluster.installStandIn(dir: dir, version: "4.96.4")
            let out = try MoreAppsOnTheCluster.submit(
                "code-server --container cs.sif -t 10 --setup 'export PATH=\(dir)/bin:$PATH'", dir: dir)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let command = try #require(out["laptop_command"] as? String)
            let password = try #require(out["token"] as? String)
            let check = try MoreAppsOnTheCluster.throughLaptopCommand(
                command, laptopPort: 8080, path: "/check?password=\(password)", dir: dir)
            #expect(check.status == "200")
            let conn = try Cluster.connection("alice", job)
            let nodeDir = ((try #require(conn["socket"] as? String)) as NSString).deletingLastPathComponent
            let binds = [
                "exec", "--bind", "/home/alice/.local/share/code-server", "--bind", nodeDir, "--bind",
                "/home/alice/.hpcserve/jobs/\(job)", "cs.sif", "code-server",
            ]
            // Two runs in the image: the version check, then the server.
            let args = try Self.lines(dir + "/apptainer-args")
            #expect(Array(args.prefix(10)) == binds + ["--version"], "\(args)")
            #expect(Array(args.dropFirst(10).prefix(11)) == binds + ["--config", "\(nodeDir)/code-server.yaml"])
            #expect(!args.joined().contains(password))
        }

        @Test func webInAContainerRunsTheCommandWithBashThere() throws {
            let dir = try Cluster.scratch("alice", "container-web")
            try Self.installStandIn(dir: dir)
            try Cluster.write("alice", dir + "/hello.txt", "hello from the image\n")
            let out = try MoreAppsOnTheCluster.submit(
                "web --container app.sif --command 'python3 -m http.server --bind {host} {port}' "
                    + "--url-path /hello.txt -t 10 --setup 'export PATH=\(dir)/bin:$PATH'", dir: dir)
            let job = try #require(out["job_id"] as? Int).description
            defer { _ = try? Cluster.on("login", "alice", "hpcserve stop \(job)") }
            let command = try #require(out["laptop_command"] as? String)
            let hello = try MoreAppsOnTheCluster.throughLaptopCommand(
                command, laptopPort: 8000, path: "/hello.txt", dir: dir)
            #expect(hello.status == "200" && hello.body == "hello from the image\n", "\(hello)")
            let args = try Self.lines(dir + "/apptainer-args")
            let image = try #require(args.firstIndex(of: "app.sif"), "\(args)")
            #expect(args[image + 1] == "bash" && args[image + 2] == "-c", "\(args)")
            // bash -c gets the function (declare -f prints it over several lines), then calls it.
            let script = args[(image + 3)...].joined(separator: "\n")
            #expect(script.contains("python3 -m http.server --bind 127.0.0.1 \"${hpcserve_port}\""), "\(script)")
            #expect(script.hasSuffix("; hpcserve_web_command"), "\(script)")
            try MoreAppsOnTheCluster.stop(job)
            try Cluster.waitFor("the web app of job \(job) to exit", seconds: 20) {
                !(try Cluster.liveProcesses("alice")).contains("http.server")
            }
        }
    }
}
