import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The login node could not be reached, or stopped answering.
public enum LoginError: UserFacingError, Equatable {
    /// ssh could not connect or authenticate: its own last line, and where its whole output is.
    case unreachable(host: String, message: String, log: String)
    /// The connection dropped while a command ran on the login node.
    case lost(host: String, message: String)
    /// The login node's hpcserve answered with something this one cannot read.
    case remoteUnreadable(version: String, what: String)

    public var description: String {
        switch self {
        case .unreachable(let host, let message, let log):
            return "cannot log in to \(host): \(message) (ssh's output: \(log)); check that 'ssh \(host)' works"
        case .lost(let host, let message):
            return "the connection to \(host) dropped (\(message)); run the command again"
        case .remoteUnreadable(let version, let what):
            return
                "the login node's \(version) printed \(what), which this hpcserve \(ScriptRenderer.version) cannot "
                + "read; install the same version there, or set HPCSERVE_REMOTE=none to let the laptop do its part"
        }
    }
    public var exitCode: ExitCode {
        switch self {
        case .unreachable: return .unavailable
        case .lost, .remoteUnreadable: return .failure
        }
    }
}

/// One OpenSSH control master from the laptop to a login node: every remote command and every
/// laptop forward of one `hpcserve --host LOGIN …` goes through it, so the user logs in (and
/// answers an MFA prompt) once. Its ControlPath is in a private 0700 directory on the laptop.
/// Always the system `ssh`, so the user's config (ProxyJump, keys, agent, GSSAPI) applies.
public struct LoginConnection: Sendable {
    public let host: String
    /// The laptop's private directory (`~/.hpcserve/laptop`), 0700.
    public let directory: String
    public let runner: any ProcessRunner

    /// Keepalives on every ssh: a dead connection (laptop asleep, Wi-Fi changed) is noticed
    /// within 45 s instead of hanging.
    static let keepalive = ["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]

    public init(host: String, directory: String, runner: any ProcessRunner) {
        self.host = host
        self.directory = directory
        self.runner = runner
    }

    /// A short, stable name per login host: ControlPath must fit sun_path (104 bytes on macOS).
    public var key: String { Self.shortHash(host) }
    public var control: String { directory + "/" + key + ".ctl" }
    public var log: String { directory + "/" + key + ".log" }
    /// The laptop's records of its sessions on this host (`<job>.json`).
    public var sessions: String { directory + "/" + key }

    /// LOGIN as given to ssh: whatever ssh accepts as a destination, but never something ssh
    /// would read as an option (`-oProxyCommand=…`) or a value that does not fit one word.
    public static func checkedHost(_ value: String, option: String) throws -> String {
        try Validate.basic(value, option: option)
        if value.startsWith(scalars: "-") {
            throw UsageError(
                "\(option) \(Validate.show(value)) starts with '-', which ssh would read as an option; give a host "
                    + "name, user@host or a Host alias from ~/.ssh/config")
        }
        if value.unicodeScalars.contains(where: { $0 == " " || $0 == "\t" || $0 == "'" || $0 == "\"" }) {
            throw UsageError(
                "\(option) \(Validate.show(value)) has spaces or quotes; give a host name, user@host or a Host alias")
        }
        return value
    }

    /// The laptop's directory for control sockets and session records: created 0700, or
    /// refused when it is not private (ssh's StrictModes rule).
    public static func privateDirectory(_ context: Context) throws -> String {
        let paths = try SessionPaths.from(context)
        try paths.ensurePrivate()
        let dir = paths.root + "/laptop"
        _ = try SessionPaths.ensurePrivateDirectory(dir)
        return dir
    }

    static func shortHash(_ text: String) -> String {
        // FNV-1a, 64 bits: stable across runs and platforms (Swift's hashValue is seeded).
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return String(h, radix: 36)
    }

    /// True while a master answers on the control socket.
    public func isAlive() async -> Bool {
        guard FileManager.default.fileExists(atPath: control) else { return false }
        let r = try? await runner.run(
            Invocation(["ssh", "-o", "BatchMode=yes", "-S", control, "-O", "check", "--", host], timeout: 10))
        return r?.status == 0
    }

    /// Makes sure a master is up: reuses a live one (no login at all), else logs in once.
    /// `interactive`: ssh may ask on the terminal (password, MFA, a new host key); otherwise
    /// BatchMode. Host key checking is ssh's own, never turned off.
    /// Returns whether it logged in (false: a master was up already).
    @discardableResult
    public func connect(interactive: Bool) async throws -> Bool {
        if await isAlive() { return false }
        try Tunnel.removeOwnSocket(control)
        var argv = ["ssh", "-M", "-S", control, "-f", "-N", "-o", "ControlPersist=no"] + Self.keepalive
        if !interactive { argv += ["-o", "BatchMode=yes"] }
        argv += ["--", host]
        // ssh asks on /dev/tty (it shares our terminal); its messages go to the log, not our pipes:
        // the backgrounded master would hold them open.
        let r = try await runner.run(Invocation(argv, timeout: interactive ? 600 : 60, output: .appendToFile(log)))
        guard r.status == 0 else {
            let text = String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self)
            let said = ProcessResult.lastLine(of: text)
            let tail = said.isEmpty ? "ssh exit \(r.status)" : said
            throw LoginError.unreachable(host: host, message: tail, log: log)
        }
        return true
    }

    /// Closes the master (and with it every laptop forward through it).
    public func exit() async {
        if FileManager.default.fileExists(atPath: control) {
            _ = try? await runner.run(
                Invocation(["ssh", "-o", "BatchMode=yes", "-S", control, "-O", "exit", "--", host], timeout: 10))
        }
        try? Tunnel.removeOwnSocket(control)
    }

    /// `ssh -O forward -L 127.0.0.1:PORT:SOCKET`: the laptop end, on the loopback address only.
    /// Returns ssh's complaint when it could not (the port is taken), nil when it worked.
    public func forward(port: Int, to socket: String) async throws -> String? {
        let r = try await runner.run(
            Invocation(
                [
                    "ssh", "-o", "BatchMode=yes", "-S", control, "-O", "forward", "-L", "127.0.0.1:\(port):\(socket)",
                    "--",
                    host,
                ], timeout: 15))
        return r.status == 0 ? nil : (r.lastLine.isEmpty ? "ssh exit \(r.status)" : r.lastLine)
    }

    /// Removes the laptop forward on PORT (the master stays).
    public func cancel(port: Int, to socket: String) async {
        _ = try? await runner.run(
            Invocation(
                [
                    "ssh", "-o", "BatchMode=yes", "-S", control, "-O", "cancel", "-L", "127.0.0.1:\(port):\(socket)",
                    "--",
                    host,
                ], timeout: 15))
    }

    /// A runner whose programs run on the login node, through the master.
    public var remote: RemoteRunner { RemoteRunner(connection: self) }
}

/// Runs argv on the login node through the control master: `ssh -S CTL LOGIN 'quoted argv'`.
/// The words are quoted for a POSIX shell (the login shell runs them); stdin is passed on.
/// "command not found" there is `ToolMissing`, as it is locally; a dropped connection is
/// `LoginError.lost`.
public struct RemoteRunner: ProcessRunner {
    public let connection: LoginConnection

    public func run(_ invocation: Invocation) async throws -> ProcessResult {
        let env = invocation.environment.sorted { $0.key < $1.key }.compactMap { k, v in v.map { "\(k)=\($0)" } }
        let words = (env.isEmpty ? [] : ["env"] + env) + invocation.argv
        var command = words.map(ShellQuote.quote).joined(separator: " ")
        if let directory = invocation.directory { command = "cd \(ShellQuote.quote(directory)) && " + command }
        if case .appendToFile(let file) = invocation.output {
            // Remote output goes to a remote file: a backgrounded program there must not keep
            // our session (and its channel) open.
            command += " >>" + ShellQuote.quote(file) + " 2>&1 </dev/null"
        }
        var local = invocation
        local.argv =
            ["ssh", "-o", "BatchMode=yes", "-S", connection.control] + LoginConnection.keepalive + [
                "--", connection.host, command,
            ]
        local.environment = [:]
        local.directory = nil
        local.output = .capture
        let r = try await connection.runner.run(local)
        if r.status == 127, r.stderr.contains("not found") || r.stderr.contains("No such file") {
            throw ToolMissing(tool: invocation.argv.first ?? "?")
        }
        if r.status == 255, !r.timedOut, Self.isConnectionFailure(r.stderr) {
            throw LoginError.lost(host: connection.host, message: r.lastLine)
        }
        return r
    }

    /// ssh's own words for a connection that failed (not a remote program's exit 255).
    static func isConnectionFailure(_ stderr: String) -> Bool {
        [
            "Control socket", "Connection closed", "Connection reset", "Connection refused", "mux_client",
            "Broken pipe", "timed out", "Could not resolve", "Permission denied", "No route",
        ]
        .contains { stderr.contains($0) }
    }
}
