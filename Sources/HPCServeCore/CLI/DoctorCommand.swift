import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `hpcserve doctor [--node]`: what this site allows, checked for real, as a table.
public enum DoctorCommand {
    /// One line of the table.
    public struct Check: Sendable, Equatable {
        public enum Status: String, Sendable { case ok = "✓", failed = "✗", unknown = "?" }
        public var status: Status
        public var what: String
        /// What was found, or how to fix it.
        public var detail: String
        /// A failure of a required check makes doctor exit 1.
        public var required: Bool

        public init(_ status: Status, _ what: String, _ detail: String, required: Bool = true) {
            self.status = status
            self.what = what
            self.detail = detail
            self.required = required
        }
    }

    static let options: [OptionSpec] = [
        OptionSpec(["--node"], help: "also run the node-side checks in a small job (waits for it to start)"),
        .help,
    ]

    static let command: Command = {
        var command = Command(
            "doctor", summary: "check what this site allows, with fixes",
            usage: "hpcserve doctor [--node]",
            about: [
                """
                Check, on this login node: the Slurm tools and that slurmctld answers; your session directory \
                (private, and short enough for Unix socket paths); that this login node's sshd forwards to a Unix \
                socket (a real forward through it, as the laptop command makes); whether ssh reaches a compute \
                node; and which app versions are on PATH after the site's modules (config 'module'). \
                With --node the node-side checks run in a small job: ssh from the node back to this login node, and \
                the app versions there.
                """
            ]
        ) { parsed, context in
            try await run(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Options", options)]
        command.notes = [
            """
            Exit status: 0 when every required check passes, 1 otherwise. App versions and ssh between nodes \
            are not required: a missing app only matters for that app, and ssh to a node \
            without a job there is often refused on purpose.
            """
        ]
        command.examples = ["hpcserve doctor", "hpcserve doctor --node"]
        return command
    }()

    static func run(_ parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        if let extra = parsed.positionals.first { throw UsageError("unexpected argument \(Validate.show(extra))") }
        let configuration = try Configuration.load(context)
        let settings = configuration.effective(app: nil, commandLine: ParsedArguments())
        let modules = settings.first { $0.0.name == "module" }?.1.map(\.value) ?? []
        var checks: [Check] = []
        checks += await slurm(context)
        let paths = sessionChecks(context)
        checks += paths.checks
        checks.append(await loginForward(context))
        checks.append(await sshToNode(context))
        let versions = await appVersions(context, modules: modules)
        checks += versions.map { Self.versionCheck($0.key, $0.value, on: "here") }.sorted { $0.what < $1.what }
        checks += notFound(versions, on: "here")
        if parsed.has("--node") {
            checks += await nodeSide(context, paths: paths.paths, settings: settings, modules: modules)
        } else {
            checks.append(
                Check(
                    .unknown, "ssh from a compute node to this login node",
                    "unknown: run 'hpcserve doctor --node' to check it in a small job", required: false))
        }
        context.output.stdout(table(checks))
        let failed = checks.filter { $0.required && $0.status == .failed }
        if failed.isEmpty {
            context.note("all required checks passed")
            return .success
        }
        context.output.stderr(
            "hpcserve: error: \(failed.count) required check\(failed.count == 1 ? "" : "s") failed: "
                + failed.map(\.what).joined(separator: "; ") + "\n")
        return .failure
    }

    /// The table: status, what was checked, what was found or the fix.
    static func table(_ checks: [Check]) -> String {
        let label = { (check: Check) in check.what + (check.required ? "" : " (optional)") }
        let width = checks.map { label($0).count }.max() ?? 0
        return checks.map { check in
            let what = label(check)
            let pad = String(repeating: " ", count: width + 2 - what.count)
            return "\(check.status.rawValue) \(what)\(pad)\(Validate.escapeNonPrinting(check.detail))"
        }.joined(separator: "\n") + "\n"
    }

    // MARK: Slurm

    static func slurm(_ context: Context) async -> [Check] {
        var checks: [Check] = []
        let path = (try? context.variable("PATH")) ?? "/usr/bin:/bin"
        var missing: [String] = []
        for tool in ["sbatch", "squeue", "scancel"] where which(tool, path: path) == nil { missing.append(tool) }
        checks.append(
            missing.isEmpty
                ? Check(.ok, "Slurm tools on PATH", "sbatch, squeue, scancel")
                : Check(
                    .failed, "Slurm tools on PATH",
                    "missing \(missing.joined(separator: ", ")); run on a login node, or load the slurm module"))
        guard !missing.contains("squeue") else {
            checks.append(Check(.failed, "slurmctld answers", "not checked: squeue is missing"))
            return checks
        }
        let argv = ["squeue", "--noheader", "--me", "--format=%i"]
        let r = try? await context.runner.run(Invocation(argv, timeout: 40))
        if let r, r.status == 0, !r.timedOut {
            checks.append(Check(.ok, "slurmctld answers", "squeue --me works"))
        } else {
            let why = r.map { $0.timedOut ? "squeue timed out" : $0.lastLine } ?? "squeue could not run"
            checks.append(Check(.failed, "slurmctld answers", "\(why); try again later or ask your admins"))
        }
        return checks
    }

    static func which(_ tool: String, path: String) -> String? {
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") {
            return "\(dir)/\(tool)"
        }
        return nil
    }

    // MARK: session directory

    static func sessionChecks(_ context: Context) -> (paths: SessionPaths?, checks: [Check]) {
        let paths: SessionPaths
        do {
            paths = try SessionPaths.from(context)
        } catch let error as FileError {
            if case .socketPathTooLong = error {
                return (nil, [Check(.failed, "socket path length (sun_path)", error.description)])
            }
            return (nil, [Check(.failed, "session directory", error.description)])
        } catch {
            return (nil, [Check(.failed, "session directory", "\(error)")])
        }
        var checks: [Check] = []
        var problems: [String] = []
        var created = true
        for dir in [paths.root, paths.jobs] {
            var st = stat()
            if lstat(dir, &st) != 0 {
                if errno == ENOENT {
                    created = false
                } else {
                    problems.append("\(dir): \(String(cString: strerror(errno)))")
                }
                continue
            }
            if (st.st_mode & S_IFMT) != S_IFDIR {
                problems.append("\(dir) is not a directory (or is a symbolic link); move it away")
            } else if st.st_uid != getuid() {
                problems.append("\(dir) is not owned by you; remove it or set HPCSERVE_DIR")
            } else if st.st_mode & 0o077 != 0 {
                problems.append("\(dir) has mode \(String(st.st_mode & 0o777, radix: 8)); run 'chmod 700 \(dir)'")
            }
        }
        if problems.isEmpty {
            let found = created ? "private (0700, yours)" : "not created yet; hpcserve creates it 0700"
            checks.append(Check(.ok, "session directory", "\(paths.root): \(found)"))
        } else {
            checks.append(Check(.failed, "session directory", problems.joined(separator: "; ")))
        }
        let longest = paths.directory(jobID: SessionPaths.longestJobID) + "/server.sock"
        checks.append(
            Check(
                .ok, "socket path length (sun_path)",
                "\(longest.utf8.count) of at most \(SessionPaths.socketPathLimit) bytes"))
        return (paths, checks)
    }

    // MARK: ssh

    /// This host's name, as ssh reaches it.
    static func thisHost() -> String { ProcessInfo.processInfo.hostName }

    /// A real forward through this login node's sshd, made the way the laptop command makes it:
    /// `-L SOCKET:SOCKET`, the far end a socket on this host (sshd's direct-streamlocal).
    static func loginForward(_ context: Context) async -> Check {
        let what = "sshd here forwards to Unix sockets"
        var template = Array("/tmp/hpcserve-doctor.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            return Check(.unknown, what, "not checked: cannot create a directory in /tmp", required: false)
        }
        let dir = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/far.sock"
        let marker = "hpcserve-doctor-\(getpid())"
        guard let listener = OneShotServer(path: target, reply: marker + "\n") else {
            return Check(.unknown, what, "not checked: cannot listen on \(target)", required: false)
        }
        let host = thisHost()
        // The far end is this host: its "server" is this process, so a forward left behind by
        // a Ctrl-C ends by itself once doctor is gone.
        let tunnel = Tunnel(
            runner: context.runner, directory: dir, node: host, target: target, serverPID: Int(getpid()))
        do {
            try await tunnel.open()
        } catch {
            listener.stop()
            return Check(
                .unknown, what, "not checked: cannot ssh to this login node (\(host)) itself: \(error)", required: false
            )
        }
        let got = await OneShotServer.readAll(socket: tunnel.socket)
        await tunnel.close()
        listener.stop()
        if got.contains(marker) { return Check(.ok, what, "a forward through \(host)'s sshd to a socket worked") }
        let log = (try? String(contentsOfFile: tunnel.log, encoding: .utf8)) ?? ""
        let refused = log.contains("administratively prohibited") || log.contains("open failed")
        let last = log.split(separator: "\n").last.map { ": ssh said '\($0)'" } ?? ""
        return Check(
            .failed, what,
            (refused ? "\(host)'s sshd refused it\(last)" : "nothing came through\(last)")
                + "; the laptop command forwards to a socket here: ask your admins for "
                + "'AllowStreamLocalForwarding yes' (or 'local') in this login node's sshd_config")
    }

    /// ssh to one compute node without a job there.
    static func sshToNode(_ context: Context) async -> Check {
        let what = "ssh from here to a compute node"
        guard let r = try? await context.runner.run(Invocation(["sinfo", "-h", "-N", "-o", "%N"], timeout: 40)),
            r.status == 0, let node = r.stdout.split(separator: "\n").first.map(String.init), !node.isEmpty,
            (try? Validate.host(node, option: "node")) != nil
        else {
            return Check(.unknown, what, "unknown: sinfo named no node", required: false)
        }
        let argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--", node, "true"]
        let ssh = try? await context.runner.run(Invocation(argv, timeout: 30))
        if ssh?.status == 0 { return Check(.ok, what, "ssh \(node) works (without a job there)", required: false) }
        return Check(
            .unknown, what,
            "unknown: ssh \(node) without a job there failed (\(ssh?.lastLine ?? "ssh did not run")); a site "
                + "that allows ssh only to nodes where you have a job (pam_slurm_adopt) still lets hpcserve's "
                + "forward in once the job runs; otherwise the forward goes through the job (srun --overlap)",
            required: false)
    }

    // MARK: apps

    /// The shell text that prints `name|version output` for each app it finds, after loading `$@` as modules.
    static let probeScript = """
        for m in "$@"; do
          if command -v module >/dev/null 2>&1; then
            module load "$m" >/dev/null 2>&1 || echo "module|load $m failed"
          else
            echo "module|no 'module' command to load $m"
          fi
        done
        v=$(jupyter server --version 2>/dev/null) && echo "jupyter_server|$v"
        v=$(rserver --version 2>/dev/null) && echo "rserver|$v"
        v=$(pvserver --version 2>/dev/null) && echo "pvserver|$v"
        v=$(code-server --version 2>/dev/null) && echo "code-server|$v"
        true
        """

    static func appVersions(_ context: Context, modules: [String]) async -> [String: String] {
        let argv = ["bash", "-lc", probeScript, "hpcserve-doctor"] + modules
        guard let r = try? await context.runner.run(Invocation(argv, timeout: 60)) else { return [:] }
        return parseProbe(r.stdout)
    }

    /// `name|text` lines; only the first line of each name counts.
    static func parseProbe(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        // ssh's messages end in \r\n, one Character: split at any line break.
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "|", maxSplits: 1).map(String.init)
            guard parts.count == 2, out[parts[0]] == nil else { continue }
            out[parts[0]] = parts[1]
        }
        return out
    }

    /// The first dotted number in `text` (`RStudio Server 2024.12.0+467` → [2024, 12, 0]).
    static func version(in text: String) -> [Int]? {
        guard let match = text.firstMatch(of: /[0-9]+(\.[0-9]+)+/) else { return nil }
        return match.output.0.split(separator: ".").compactMap { Int($0) }
    }

    static func atLeast(_ v: [Int], _ minimum: [Int]) -> Bool {
        for (a, b) in zip(v + Array(repeating: 0, count: max(0, minimum.count - v.count)), minimum) where a != b {
            return a > b
        }
        return true
    }

    /// The check for one probe line (`name` from `probeScript`).
    static func versionCheck(_ name: String, _ output: String, on host: String) -> Check {
        let found = version(in: output)
        let shown = found.map { $0.map(String.init).joined(separator: ".") } ?? output
        func check(_ what: String, _ minimum: [Int], ok: String, old: String) -> Check {
            guard let found else {
                return Check(.unknown, what, "cannot read a version from '\(output)'", required: false)
            }
            return atLeast(found, minimum)
                ? Check(.ok, what, "\(shown): \(ok)", required: false)
                : Check(.failed, what, "\(shown): \(old)", required: false)
        }
        switch name {
        case "jupyter_server":
            if let found, !atLeast(found, [1, 9]), atLeast(found, [1, 6]) {
                return Check(
                    .failed, "jupyter_server >= 1.9 (\(host))",
                    "\(shown): token file works but not --sock; use --listen tcp or load a newer Jupyter",
                    required: false)
            }
            return check(
                "jupyter_server >= 1.9 (\(host))", [1, 9], ok: "--sock and the token file work",
                old: "older than 1.6: no token file; load a newer Jupyter")
        case "rserver":
            return check(
                "rserver --www-socket, 2024.12+ (\(host))", [2024, 12], ok: "--www-socket works",
                old: "no --www-socket; use --listen tcp or load RStudio Server 2024.12 or later")
        case "pvserver":
            return check(
                "pvserver --bind-address, 5.13+ (\(host))", [5, 13], ok: "--bind-address works",
                old: "no --bind-address: it would listen on every address; load ParaView 5.13 or later")
        case "code-server":
            return check(
                "code-server >= 4.14.1 (\(host))", [4, 14, 1], ok: "its session socket is private",
                old: "older ones put a shared session socket in /tmp; load code-server 4.14.1 or later")
        default:
            return Check(.failed, "module (\(host))", output, required: false)
        }
    }

    /// The app checks for apps `versions` does not name: not on PATH (after the modules).
    static func notFound(_ versions: [String: String], on host: String) -> [Check] {
        ["jupyter_server", "rserver", "pvserver", "code-server"].filter { versions[$0] == nil }.map {
            Check(.unknown, "\($0) (\(host))", "not on PATH after the site's modules", required: false)
        }
    }

    // MARK: --node

    /// Runs the probe and an ssh back to this login node in a small job, waiting with `sbatch --wait`.
    static func nodeSide(
        _ context: Context, paths: SessionPaths?, settings: [(ConfigKey, [Setting])], modules: [String]
    ) async -> [Check] {
        let what = "node-side checks (a small job)"
        guard let paths, (try? paths.ensurePrivate()) != nil else {
            return [Check(.failed, what, "not run: the session directory is not usable")]
        }
        var lines = ["#!/bin/bash", "#SBATCH --job-name=hpcserve-doctor", "#SBATCH --time=5", "#SBATCH --nodes=1"]
        lines.append("#SBATCH --output=\(paths.jobs)/doctor-%j.log")
        for (key, values) in settings where ["partition", "account", "qos"].contains(key.name) {
            if let value = values.last?.value { lines.append("#SBATCH --\(key.name)=\(value)") }
        }
        let host = thisHost()
        lines += [
            "set -- " + modules.map(ShellQuote.quote).joined(separator: " "),
            probeScript,
            "if out=$(ssh -o BatchMode=yes -o ConnectTimeout=10 -- \(ShellQuote.quote(host)) true 2>&1 "
                + "</dev/null); then",
            "  echo 'node_to_login|ok'",
            "else",
            "  echo \"node_to_login|${out//[$'\\r\\n']/ }\"",
            "fi",
            "echo \"node|$(hostname)\"",
        ]
        let script = lines.joined(separator: "\n") + "\n"
        context.note("submitting a small job for the node-side checks; waiting for it (sbatch --wait)")
        guard
            let r = try? await context.runner.run(
                Invocation(["sbatch", "--parsable", "--wait"], stdin: script, timeout: 900))
        else { return [Check(.failed, what, "sbatch could not run")] }
        let job = r.stdout.split(separator: "\n").first.map { String($0.split(separator: ";")[0]) } ?? ""
        guard (try? Slurm.jobID(job)) != nil else {
            return [Check(.failed, what, "sbatch refused the job: \(r.lastLine)")]
        }
        let log = paths.jobs + "/doctor-\(job).log"
        let probe = parseProbe((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        guard let node = probe["node"] else {
            return [Check(.failed, what, "job \(job) ended without a result (exit \(r.status)); see \(log)")]
        }
        try? FileManager.default.removeItem(atPath: log)
        var checks = [Check(.ok, what, "job \(job) ran on \(node)", required: false)]
        let back = probe["node_to_login"] ?? "no result"
        checks.append(
            back == "ok"
                ? Check(.ok, "ssh from \(node) to this login node", "works", required: false)
                : Check(
                    .unknown, "ssh from \(node) to this login node",
                    "unknown: it failed (\(back)); --reverse-tunnel cannot work here, use the default forward",
                    required: false))
        var versions = probe
        versions["node"] = nil
        versions["node_to_login"] = nil
        checks += versions.map { versionCheck($0.key, $0.value, on: node) }.sorted { $0.what < $1.what }
        checks += notFound(versions, on: node)
        return checks
    }
}

/// A Unix socket that answers one connection with `reply`, served from its own thread
/// (never a cooperative one); stopped, or given up after 60 s.
final class OneShotServer: @unchecked Sendable {
    private let fd: Int32
    private let path: String
    private let lock = NSLock()
    private var stopped = false

    init?(path: String, reply: String) {
        #if canImport(Glibc)
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
            fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        self.path = path
        guard fd >= 0 else { return nil }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc_close(fd)
            return nil
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            Glibc_close(fd)
            return nil
        }
        let thread = Thread { [self] in serve(Array(reply.utf8)) }
        thread.start()
    }

    private func serve(_ reply: [UInt8]) {
        for _ in 0..<600 {
            if lock.withLock({ stopped }) { break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let client = accept(fd, nil, nil)
            if client >= 0 {
                _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Glibc_close(client)
            }
            break
        }
        lock.withLock {
            if !stopped {
                stopped = true
                Glibc_close(fd)
            }
        }
    }

    func stop() {
        lock.withLock {
            if !stopped {
                stopped = true
                Glibc_close(fd)
            }
        }
        unlink(path)
    }

    /// Everything a connection to `socket` gives within 20 s, read on its own thread.
    static func readAll(socket: String) async -> String {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var got: [UInt8] = []
                let fd = SocketProbe.connect(socket, timeout: 20)
                if fd >= 0 {
                    var buffer = [UInt8](repeating: 0, count: 256)
                    while got.count < 4096 {
                        let n = recv(fd, &buffer, buffer.count, 0)
                        if n <= 0 { break }
                        got += buffer[0..<n]
                    }
                    Glibc_close(fd)
                }
                continuation.resume(returning: String(decoding: got, as: UTF8.self))
            }
            thread.start()
        }
    }
}
