import Foundation

/// What the laptop learnt about the login node in one remote command, and how it works with it:
/// through the login node's own hpcserve (`delegate`) or by doing the login-side steps itself.
public struct LoginSide: Sendable {
    public let connection: LoginConnection
    /// The session root there (`$HPCSERVE_DIR` or `~/.hpcserve`): the same directories the
    /// login node's hpcserve uses, so `list` and `stop` there know laptop sessions.
    public let paths: SessionPaths
    public let user: String
    /// The login node's hpcserve when it is there and speaks our JSON; nil: the laptop does it.
    public let delegate: String?
    /// What it said of its version ("hpcserve 0.1.0"), for messages.
    public let remoteVersion: String?
    /// This command logged in (no master was up before it).
    public let startedMaster: Bool

    /// Closes the master when this command started it and no laptop session uses it.
    func release() async {
        if startedMaster, LaptopRecord.jobs(connection).isEmpty { await connection.exit() }
    }

    var remote: RemoteRunner { connection.remote }
    var slurm: Slurm { Slurm(runner: remote) }

    /// `HPCSERVE_REMOTE`: the hpcserve to run on the login node (default `hpcserve` on its
    /// PATH); `none` means the laptop renders, submits and forwards by itself.
    static func remoteCommand(_ context: Context) throws -> String? {
        guard let value = try context.variable("HPCSERVE_REMOTE") else { return "hpcserve" }
        if value == "none" { return nil }
        return try Validate.path(value, option: "environment variable HPCSERVE_REMOTE")
    }

    /// One remote command: the session root, the user, and the remote hpcserve's version.
    static let probeScript = """
        printf '%s\\n' "${HPCSERVE_DIR:-}" "$HOME" "$(id -un)"
        if [ -n "$1" ] && command -v "$1" >/dev/null 2>&1; then "$1" --version 2>&1 | head -n 1; else echo none; fi
        """

    /// Logs in (once), then asks the login node what it has.
    public static func open(host: String, context: Context) async throws -> LoginSide {
        let directory = try LoginConnection.privateDirectory(context)
        let connection = LoginConnection(host: host, directory: directory, runner: context.runner)
        let started = try await connection.connect(interactive: context.isTerminal)
        let command = try remoteCommand(context)
        let r = try await connection.remote.run(
            Invocation(["sh", "-c", probeScript, "sh", command ?? ""], timeout: 30))
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard r.status == 0, lines.count >= 4 else {
            throw LoginError.lost(host: host, message: r.lastLine.isEmpty ? "no answer" : r.lastLine)
        }
        let root = lines[0].isEmpty ? lines[1] + "/.hpcserve" : lines[0]
        let paths = try SessionPaths(checkedRoot: root, from: "the login node's HOME or HPCSERVE_DIR")
        let user = try Validate.charset(
            lines[2], option: "the login node's user name", allowed: "_.-@", what: "user name")
        let said = lines[3].trimmingCharacters(in: .whitespaces)
        var delegate: String?
        if let command, said != "none" {
            switch Self.compatibility(said) {
            case .same: delegate = command
            case .older(let v):
                context.warn(
                    "the login node's hpcserve is too old (\(v); this is \(ScriptRenderer.version)); the laptop does "
                        + "its part instead. Update it there to use it")
            case .newer(let v):
                context.warn(
                    "the login node's hpcserve is newer (\(v); this is \(ScriptRenderer.version)); the laptop does "
                        + "its part instead. Update this hpcserve to use it")
            case .unreadable:
                throw LoginError.remoteUnreadable(version: "hpcserve", what: "\(Validate.show(said)) for --version")
            }
        }
        return LoginSide(
            connection: connection, paths: paths, user: user, delegate: delegate,
            remoteVersion: said == "none" ? nil : said, startedMaster: started)
    }

    enum Compatibility: Equatable {
        case same
        case older(String)
        case newer(String)
        case unreadable
    }

    /// Same major and minor version: the JSON and options are the same.
    static func compatibility(_ line: String, ours: String = ScriptRenderer.version) -> Compatibility {
        let words = line.split(separator: " ")
        guard words.count == 2, words[0] == "hpcserve" else { return .unreadable }
        let theirs = words[1].split(separator: ".").map { Int($0) }
        let mine = ours.split(separator: ".").map { Int($0) }
        guard theirs.count == 3, !theirs.contains(nil), mine.count == 3 else { return .unreadable }
        let a = theirs.prefix(2).map { $0! }
        let b = mine.prefix(2).map { $0! }
        if a == b { return .same }
        return a.lexicographicallyPrecedes(b) ? .older(String(words[1])) : .newer(String(words[1]))
    }

    // MARK: - Login-side steps the laptop does itself (no hpcserve there)

    /// Creates the session root and `jobs` 0700, or refuses them when they are not private.
    static let ensurePrivateScript = """
        umask 077
        mkdir -p "$1/jobs" || exit 1
        for d in "$1" "$1/jobs"; do
          if [ -L "$d" ] || [ ! -O "$d" ] || [ -n "$(find "$d" -maxdepth 0 -perm /077)" ]; then
            echo "$d is not private (a symbolic link, not yours, or open to other users)" >&2; exit 1
          fi
        done
        """

    func ensurePrivate() async throws {
        let r = try await remote.run(Invocation(["sh", "-c", Self.ensurePrivateScript, "sh", paths.root], timeout: 30))
        guard r.status == 0 else {
            throw UsageError("on \(connection.host): \(r.lastLine); fix it or set HPCSERVE_DIR there")
        }
    }

    /// Waits on the login node, in one command, for the job's connection.json (a 0.1 s stat
    /// loop there, not one ssh command per poll); exit 3 when it did not come in time.
    static let waitScript = """
        i=0
        while [ ! -s "$1" ]; do
          i=$((i + 1)); [ "$i" -gt "$2" ] && exit 3
          sleep 0.1
        done
        cat "$1"
        """

    /// The connection.json of `job` once the job wrote it; nil after `seconds` without it.
    func waitForConnection(job: String, seconds: Int) async throws -> (info: ConnectionInfo?, text: String) {
        let file = paths.directory(jobID: job) + "/connection.json"
        let r = try await remote.run(
            Invocation(
                ["sh", "-c", Self.waitScript, "sh", file, String(seconds * 10)], timeout: Double(seconds) + 30))
        if r.status == 3 { return (nil, "") }
        guard r.status == 0 else { throw LoginError.lost(host: connection.host, message: r.lastLine) }
        let info = try? JSONDecoder().decode(ConnectionInfo.self, from: Data(r.stdout.utf8))
        return (info, r.stdout)
    }

    /// Opens the login-side forward as the login node's hpcserve would (the same ssh command,
    /// see `Tunnel`), after closing an old one and removing stale sockets of ours.
    static let openForwardScript = """
        umask 077; s=$1 c=$2 l=$3 node=$4; shift 4
        if [ -S "$c" ]; then ssh -S "$c" -O exit -- "$node" >/dev/null 2>&1; fi
        for f in "$s" "$c"; do if [ -S "$f" ] && [ -O "$f" ]; then rm -f "$f"; fi; done
        "$@" >>"$l" 2>&1 </dev/null || { tail -n 1 "$l"; exit 1; }
        """

    /// `via`: through the job (srun --overlap … sshd -i, prepared with `JobSSH.prepare(shell:)`).
    func openLoginForward(job: String, info: ConnectionInfo, via: JobSSH? = nil) async throws -> String {
        let dir = paths.directory(jobID: job)
        let tunnel = Tunnel(
            runner: remote, directory: dir, node: info.node, target: info.target, serverPID: info.pid, via: via)
        let r = try await remote.run(
            Invocation(
                ["sh", "-c", Self.openForwardScript, "sh", tunnel.socket, tunnel.control, tunnel.log, info.node]
                    + tunnel.argv, timeout: 90))
        guard r.status == 0 else { throw TunnelError.failed(node: info.node, message: r.lastLine) }
        return tunnel.socket
    }

    /// True while the login-side forward of `job` answers on its control socket.
    func loginForwardAlive(job: String, node: String) async -> Bool {
        let control = paths.directory(jobID: job) + "/ctl.sock"
        let r = try? await remote.run(
            Invocation(["ssh", "-o", "BatchMode=yes", "-S", control, "-O", "check", "--", node], timeout: 15))
        return r?.status == 0
    }

    /// Closes the login-side forward and removes its sockets, connection.json and the app's secrets.
    static let closeScript = """
        d=$1 node=$2; shift 2
        if [ -S "$d/ctl.sock" ]; then ssh -S "$d/ctl.sock" -O exit -- "$node" >/dev/null 2>&1 && echo "forward closed"; fi
        for f in server.sock ctl.sock; do if [ -S "$d/$f" ] && [ -O "$d/$f" ]; then rm -f "$d/$f"; fi; done
        for f in connection.json "$@"; do
          if [ -f "$d/$f" ] && [ ! -L "$d/$f" ] && [ -O "$d/$f" ]; then rm -f "$d/$f" && echo "removed $f"; fi
        done
        """

    func closeLoginSide(job: String) async -> [String] {
        let dir = paths.directory(jobID: job)
        let node =
            (try? await remote.run(Invocation(["cat", dir + "/connection.json"], timeout: 15)))
            .flatMap { try? JSONDecoder().decode(ConnectionInfo.self, from: Data($0.stdout.utf8)).node } ?? "localhost"
        let files = Apps.all.flatMap(\.secretFiles) + JobSSH.keyFiles
        let r = try? await remote.run(Invocation(["sh", "-c", Self.closeScript, "sh", dir, node] + files, timeout: 30))
        return r?.stdout.split(separator: "\n").map(String.init) ?? []
    }

    /// The last lines of the job's log, read on the login node.
    func logTail(job: String, lines: Int) async -> String {
        let r = try? await remote.run(Invocation(["tail", "-n", String(lines), paths.log(jobID: job)], timeout: 15))
        return r?.status == 0 ? r!.stdout.trimmingCharacters(in: .newlines) : ""
    }
}
