import Foundation
import Testing

@testable import HPCServeCore

/// `web --command`: the placeholders become the job's values, the rest stays as written, and a
/// placeholder that cannot work is a usage error before any script exists.
@Suite struct WebCommandTests {
    @Test(arguments: [
        ("serve --bind {host} {port}", ListenMode.tcp, "serve --bind 127.0.0.1 \"${hpcserve_port}\""),
        ("serve --url \"http://{host}:{port}/\"", .tcp, "serve --url \"http://127.0.0.1:${hpcserve_port}/\""),
        ("gunicorn -b unix:{socket} app:app", .socket, "gunicorn -b unix:\"${hpcserve_node_socket}\" app:app"),
        ("gunicorn -b \"unix:{socket}\" a", .socket, "gunicorn -b \"unix:${hpcserve_node_socket}\" a"),
        // Not placeholders: a shell variable, braces of awk, an escaped brace, a find's {}.
        (
            "awk '{print}' f; x ${port} \\{port} {port}", .tcp,
            "awk '{print}' f; x ${port} \\{port} \"${hpcserve_port}\""
        ),
        ("find . -exec ls {} \\; && s {port}", .tcp, "find . -exec ls {} \\; && s \"${hpcserve_port}\""),
        // Quotes closed before the placeholder; $'…' and an escaped quote inside "…".
        ("echo 'a' {port} $'\\'' \"\\\"\" {host}", .tcp, "echo 'a' \"${hpcserve_port}\" $'\\'' \"\\\"\" 127.0.0.1"),
    ])
    func placeholdersBecomeTheJobsValues(_ command: String, _ listen: ListenMode, _ expected: String) throws {
        #expect(try WebCommand.line(command, listen: listen) == expected)
    }

    @Test(arguments: [
        ("echo '{port}'", ListenMode.tcp, "inside single quotes"),
        ("echo $'{port}' {port}", .tcp, "inside single quotes"),
        ("x {socket} {port}", .tcp, "{socket}, which only --listen socket has"),
        ("x {port} {socket}", .socket, "{port}, which only --listen tcp has"),
        ("x {host} {socket}", .socket, "{host}, which only --listen tcp has"),
        ("x --bind {host}", .tcp, "has no {port}"),
        ("x --sock /tmp/s", .socket, "has no {socket}"),
        ("x {sokcet} {port}", .tcp, "did you mean {socket}?"),
    ])
    func aPlaceholderThatCannotWorkIsAUsageError(_ command: String, _ listen: ListenMode, _ message: String) {
        do {
            _ = try WebCommand.line(command, listen: listen)
            Issue.record("\(command) was accepted")
        } catch let error as UsageError {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(!error.message.contains("\n"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func theCommandIsPlacedVerbatimAndRunsWithTheSecretInItsOwnProcessGroup() throws {
        let text = try renderScript([
            "web", "--command", "python3 app.py --port {port} --secret-env HPCSERVE_SECRET # mine",
            "--probe-path", "/health", "--url-path", "/app?x=1",
        ])
        #expect(
            text.contains(
                "hpcserve_web_command() {\npython3 app.py --port \"${hpcserve_port}\" --secret-env HPCSERVE_SECRET "
                    + "# mine\n}\n"))
        #expect(text.contains("  HPCSERVE_SECRET=$hpcserve_secret hpcserve_start hpcserve_web_command\n"))
        #expect(text.contains("hpcserve_probe_path=/health\n"))
        #expect(text.contains("hpcserve_url_path='/app?x=1'\n"))
        #expect(text.contains("--ip=") == false && text.contains("HPCSERVE_RELAY_PY"))
        let socket = try renderScript(["web", "--listen", "socket", "--command", "srv --unix {socket}"])
        #expect(socket.contains("srv --unix \"${hpcserve_node_socket}\"\n"))
        #expect(socket.contains("--unix-socket") && !socket.contains("HPCSERVE_RELAY_PY"))
    }

    /// The runtime's start of a shell function (web's command): its own process group, the
    /// secret in its environment only, and stopping the group stops what the command started.
    @Test(.tags(.shell)) func aFunctionStartsInItsOwnProcessGroupAndStopsWithIt() throws {
        let text = try renderScript(appWords("web"))
        let runtime = try ScriptSections(text).runtime
        let start = try #require(runtime.range(of: "hpcserve_start() {"))
        let end = try #require(runtime[start.upperBound...].range(of: "\n}\n"))
        let function = String(runtime[start.lowerBound..<end.upperBound])
        let script = """
            hpcserve_say() { :; }
            \(function)
            child() { sleep 30 & echo "$HPCSERVE_SECRET $(ps -o pgid= $BASHPID)" > "$1"; wait; }
            HPCSERVE_SECRET=s3 hpcserve_start child "$1/out"
            for _ in $(seq 100); do [[ -s $1/out ]] && break; sleep 0.05; done
            echo "leaked: ${HPCSERVE_SECRET:-none}" >> "$1/out"
            read -r _ group _ < "$1/out"
            [[ $group -eq $hpcserve_server_pid && $group -ne $(ps -o pgid= $$) ]] && echo "own group" >> "$1/out"
            kill -TERM -- "-$hpcserve_server_pid"; wait "$hpcserve_server_pid"
            for _ in $(seq 200); do   # the TERM is delivered; the group's last process may take a moment to exit
              pgrep -g "$hpcserve_server_pid" >/dev/null || { echo "group gone" >> "$1/out"; break; }
              sleep 0.05
            done
            """
        let dir = try TempDir()
        defer { dir.cleanup() }
        let r = try runProgram(["bash", "-c", script, "_", dir.path])
        let out = try String(contentsOfFile: dir.file("out"), encoding: .utf8)
        let fields = out.split(separator: "\n")
        #expect(fields.first?.split(separator: " ").first == "s3", "\(out) \(r.output)")
        #expect(fields.contains("leaked: none"), "\(out)")
        #expect(fields.contains("own group"), "\(out)")
        #expect(fields.contains("group gone"), "\(out)")
    }
}

@Suite struct TensorBoardScriptTests {
    @Test func bindsLoopbackWithTheLogdirQuotedAndNoSecondPort() throws {
        let text = try renderScript(["tensorboard", "--logdir", "my runs/$(id)"])
        #expect(text.contains("  tensorboard_logdir='my runs/$(id)'\n"))
        #expect(
            text.contains(
                "hpcserve_start tensorboard --logdir=\"$tensorboard_logdir\" --host=127.0.0.1 "
                    + "--port=\"$hpcserve_port\" \\\n    --load_fast=false\n"))
        #expect(text.contains("hpcserve_port_owner") && text.contains("HPCSERVE_RELAY_PY"))
        #expect(text.contains("# TensorBoard has no login"))
    }
}

@Suite struct CodeServerScriptTests {
    @Test func aPrivateSocketAPasswordFromA0600FileAndAVersionCheck() throws {
        let text = try renderScript(["code-server"])
        for needle in [
            "hpcserve_start code-server --config \"$hpcserve_node_dir/code-server.yaml\"",
            "--user-data-dir \"$code_server_data\" --session-socket \"$hpcserve_node_dir/code-server-ipc.sock\"",
            "--socket \"$hpcserve_node_socket\" --socket-mode 600\n",
            "printf 'auth: password\\npassword: \"%s\"\\ncert: false\\n' \"$hpcserve_secret\"",
            "unset PASSWORD HASHED_PASSWORD", "sort -V", "is older than 4.14.1", "--unix-socket",
            "hpcserve_probe_path=/healthz\n",
        ] {
            #expect(text.contains(needle), "lacks \(needle)")
        }
        #expect(!text.contains("--bind-addr") && !text.contains("HPCSERVE_RELAY_PY"))
        let tcp = try renderScript(["code-server", "--listen", "tcp"])
        #expect(tcp.contains("    --bind-addr \"127.0.0.1:$hpcserve_port\"\n") && tcp.contains("HPCSERVE_RELAY_PY"))
        #expect(!tcp.contains("--socket-mode"))
    }

    /// The version check as the job runs it, against stand-in `code-server --version` outputs.
    @Test(
        .tags(.shell),
        arguments: [
            ("4.14.1 abc123 with Code 1.79.2", true), ("4.96.4 def with Code 1.96.4", true), ("10.0.0 x", true),
            ("4.100.0-rc.1 x", true), ("4.14.10 x", true), ("4.2.0 x", false),
            ("4.14.0 abc with Code 1.79.2", false), ("4.9.1 abc", false), ("3.12.0", false), ("", false),
            ("garbage", false),
        ])
    func theVersionCheckAcceptsOnly4141AndLater(_ output: String, _ accepted: Bool) throws {
        let text = try renderScript(["code-server"])
        let start = try #require(text.range(of: "hpcserve_prepare_app() {\n"))
        let end = try #require(text[start.upperBound...].range(of: "\n}\n"))
        let lines = text[start.upperBound..<end.lowerBound].split(separator: "\n")
        let first = try #require(lines.firstIndex { $0.contains("local version") })
        let body = lines[first...].prefix { !$0.contains("unset PASSWORD") }.joined(separator: "\n")
        let dir = try TempDir()
        defer { dir.cleanup() }
        try writeExecutable(dir.file("code-server"), "#!/bin/bash\nprintf '%s\\n' \(ShellQuote.quote(output))\n")
        let script = """
            hpcserve_die() { echo "died: $*"; exit 1; }
            check() {
            \(body)
            }
            check && echo accepted
            """
        let r = try runProgram(["bash", "-c", script], environment: ["PATH": dir.path + ":/usr/bin:/bin"])
        #expect(r.output.contains("accepted") == accepted, "\(output): \(r.output)")
        if !accepted {
            #expect(r.output.contains("is older than 4.14.1") && r.output.split(separator: "\n").count == 1)
        }
    }
}

/// `--container IMAGE`: the server command runs through `apptainer exec` (or `singularity exec`)
/// with the binds the app needs; without it, nothing of it is in the script.
@Suite struct ContainerTests {
    @Test(arguments: [
        (["jupyter"], "hpcserve_start \"${hpcserve_container[@]}\" jupyter lab", "command -v jupyter"),
        (["rstudio"], "hpcserve_start \"${hpcserve_container[@]}\" rserver", "command -v rserver"),
        (["code-server"], "hpcserve_start \"${hpcserve_container[@]}\" code-server", "command -v code-server"),
        (
            ["web", "--command", "srv {port}"],
            "hpcserve_start \"${hpcserve_container[@]}\" bash -c \"$(declare -f hpcserve_web_command); "
                + "hpcserve_web_command\"", "set -m"
        ),
    ])
    func theServerRunsInTheImage(_ words: [String], _ launch: String, _ hostOnly: String) throws {
        let plain = try renderScript(words)
        #expect(!plain.contains("hpcserve_container") && !plain.contains("apptainer"))
        let text = try renderScript(words + ["--container", "docker://img/lab:1 x"])
        #expect(text.contains(launch), "\(words)")
        #expect(text.contains("hpcserve_container_image='docker://img/lab:1 x'\n"))
        #expect(text.contains("hpcserve_use_container ") && text.contains("hpcserve_use_container() {"))
        #expect(!text.contains(hostOnly), "\(words): \(hostOnly) is for a server on the host")
    }

    @Test func rstudioGetsTheRockerBindsAndChecksItsSocketOptionInTheImage() throws {
        let text = try renderScript(["rstudio", "--container", "rocker.sif", "--listen", "socket"])
        #expect(
            text.contains(
                "  hpcserve_use_container \"$hpcserve_node_dir/rstudio-run:/run\" \"$rstudio_tmp:/tmp\" \\\n"
                    + "    \"$hpcserve_node_dir/rstudio-var-lib:/var/lib/rstudio-server\" \"$hpcserve_node_dir\"\n"))
        #expect(text.contains("  \"${hpcserve_container[@]}\" rserver --help 2>&1 | grep -q -- '--www-socket' ||"))
        #expect(text.contains("printf 'provider=sqlite\\ndirectory=%s\\n'"))
        #expect(!text.contains("--rsession-which-r=\"$(command -v R)\""))
    }

    /// The runtime's choice, run: apptainer when there is one, else singularity, else one error line.
    @Test(
        .tags(.shell),
        arguments: [
            (["apptainer", "singularity"], "apptainer exec --bind /n/run:/run --bind /n --bind /s IMG X"),
            (["singularity"], "singularity exec --bind /n/run:/run --bind /n --bind /s IMG X"),
            ([], "died: --container needs apptainer or singularity on node01; add --module NAME (e.g. apptainer)"),
        ])
    func apptainerThenSingularity(_ present: [String], _ expected: String) throws {
        let text = try renderScript(["jupyter", "--container", "IMG X"])
        let start = try #require(text.range(of: "hpcserve_use_container() {"))
        let end = try #require(text[start.upperBound...].range(of: "\n}\n"))
        let dir = try TempDir()
        defer { dir.cleanup() }
        for name in present { try writeExecutable(dir.file(name), "#!/bin/bash\nexit 0\n") }
        let script = """
            hpcserve_die() { echo "died: $*"; exit 1; }
            hpcserve_say() { :; }
            hpcserve_node=node01 hpcserve_dir=/s hpcserve_container_image='IMG X'
            \(text[start.lowerBound..<end.upperBound])
            hpcserve_use_container /n/run:/run /n
            echo "${hpcserve_container[*]}"
            """
        let r = try runProgram(["/bin/bash", "-c", script], environment: ["PATH": dir.path])
        #expect(r.output.split(separator: "\n").first.map(String.init) == expected, "\(r.output)")
    }
}

/// What the watcher prints for each new app, from what its job published.
@Suite struct NewAppsClientTests {
    @Test func urlsAndSecretsForTheLaptop() throws {
        var published = info()
        published.token = "s3cr3t"
        published.urlPath = "/app?x=1"
        let web = Apps.web.client(published, 8000)
        #expect(web.url == "http://localhost:8000/app?x=1")
        #expect(web.lines.map(\.0) == ["Then open", "HPCSERVE_SECRET"] && web.lines[1].1 == "s3cr3t")
        published.urlPath = "/"
        let board = Apps.tensorboard.client(published, 6006)
        #expect(board.url == "http://localhost:6006/" && board.lines.count == 1, "no secret: it has no login")
        let code = Apps.codeServer.client(published, 8080)
        #expect(code.url == "http://localhost:8080/" && code.lines.contains { $0 == ("Password", "s3cr3t") })
        #expect([Apps.tensorboard, Apps.web, Apps.codeServer].map(\.laptopPort) == [6006, 8000, 8080])
    }
}

/// web's command is told {host}, but may listen elsewhere: the job checks the kernel's table.
@Suite struct WebLoopbackCheckTests {
    @Test(.tags(.shell)) func aListenerBeyondLoopbackIsFoundAndOneOn127001IsNot() throws {
        let text = try renderScript(appWords("web"))
        let start = try #require(text.range(of: "hpcserve_listens_beyond_loopback() {"))
        let end = try #require(text[start.upperBound...].range(of: "\n}\n"))
        #expect(text.contains("  ! hpcserve_listens_beyond_loopback \"$hpcserve_port\" ||\n"))
        #expect(!(try renderScript(["jupyter", "--listen", "tcp"])).contains("hpcserve_listens_beyond_loopback"))
        let dir = try TempDir()
        defer { dir.cleanup() }
        let script = """
            \(text[start.lowerBound..<end.upperBound])
            hpcserve_uid=$(id -u)
            python3 -c 'import socket, sys, time
            socks = []
            for host in ("0.0.0.0", "127.0.0.1"):
                s = socket.socket(); s.bind((host, 0)); s.listen(); socks.append(s)
            print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
            time.sleep(30)' > "$1/ports" &
            for _ in $(seq 200); do [[ -s $1/ports ]] && break; sleep 0.05; done
            read -r wide narrow < "$1/ports"
            hpcserve_listens_beyond_loopback "$wide" && echo "wide found"
            hpcserve_listens_beyond_loopback "$narrow" || echo "narrow passes"
            hpcserve_uid=99999; hpcserve_listens_beyond_loopback "$wide" || echo "another user's ignored"
            kill %1
            """
        let r = try runProgram(["bash", "-c", script, "_", dir.path])
        let seen = r.output.split(separator: "\n")
        #expect(seen == ["wide found", "narrow passes", "another user's ignored"], "\(r.output)")
    }
}
