import Foundation

/// `hpcserve snippet license|reverse-tunnel`: bash to paste into an existing job script.
public enum SnippetCommand {
    /// The snippets' own templates.
    static let templates: Set<String> = ["license.sh", "reverse-tunnel.sh"]

    static let licenseOptions: [OptionSpec] = [
        OptionSpec(["--gateway"], value: "HOST", help: "host to tunnel through (ssh from the nodes must work)"),
        OptionSpec(["--server"], value: "HOST", help: "the license server, as the gateway sees it"),
        OptionSpec(["--port"], value: "N", help: "the license server's port"),
        OptionSpec(
            ["--env"], value: "VAR", repeatable: true,
            help: "export VAR=PORT@localhost (default MLM_LICENSE_FILE); a license variable, "
                + "e.g. LM_LICENSE_FILE",
            completion: .words(Validate.usualLicenseVariables)),
        OptionSpec(
            ["--vendor-port"], value: "N", repeatable: true, help: "FlexLM vendor-daemon port, same number (repeatable)"
        ),
        OptionSpec(
            ["--port-range"], value: "A-B",
            help: "local ports to pick from (default 1024-65535 less the ephemeral range)"),
        OptionSpec(["--attempts"], value: "K", help: "ports to try before failing the job (default 20)"),
        .help,
    ]

    static let reverseOptions: [OptionSpec] = [
        OptionSpec(["--port"], value: "N", help: "the server's port on the node (127.0.0.1)"),
        OptionSpec(["--host"], value: "HOST", help: "where the tunnel ends (default $SLURM_SUBMIT_HOST)"),
        OptionSpec(
            ["--socket"], value: "PATH", help: "socket there (default ~/.hpcserve/jobs/ID/server.sock)",
            completion: .files),
        OptionSpec(["--insecure-tcp-port"], value: "N", help: "a TCP port instead: open to EVERY user there"),
        OptionSpec(["--laptop-port"], value: "N", help: "port for the laptop command (default 8888)"),
        .help,
    ]

    /// `hpcserve snippet license|reverse-tunnel`.
    static let command: Command = {
        var command = Command(
            "snippet", summary: "bash to paste into a job script",
            usage: "hpcserve snippet license|reverse-tunnel [OPTIONS]",
            about: ["Print bash to paste into an existing job script."])
        command.subcommands = [licenseCommand, reverseTunnelCommand]
        command.subcommandNoun = "snippet"
        command.examples = [
            "hpcserve snippet license --gateway gw01 --server lic.example.org --port 27000",
            "hpcserve snippet reverse-tunnel --port 8888",
        ]
        return command
    }()

    static let licenseCommand: Command = {
        var command = Command(
            "license", summary: "bash for a job: forward a license server's port through a gateway",
            usage: "hpcserve snippet license --gateway HOST --server HOST --port N [OPTIONS]",
            about: [
                """
                Print bash for a job script: picks a random free local port, starts \
                'ssh -f -N -o ExitOnForwardFailure=yes GATEWAY -L 127.0.0.1:PORT:SERVER:N' (retrying with another port \
                when the bind fails), exports VAR=PORT@localhost, and ends the tunnel when the job ends.
                """
            ]
        ) { parsed, context in
            try runLicense(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Options", licenseOptions)]
        command.examples = [
            "hpcserve snippet license --gateway gw01 --server lic.example.org --port 27000",
            "hpcserve snippet license --gateway gw1 --server flexlm.example.org --port 27000 \\",
            "    --vendor-port 27001 --env LM_LICENSE_FILE --env MLM_LICENSE_FILE",
        ]
        return command
    }()

    static let reverseTunnelCommand: Command = {
        var command = Command(
            "reverse-tunnel",
            summary: "bash for a job: tunnel back to a private socket on the login node",
            usage: "hpcserve snippet reverse-tunnel --port N [OPTIONS]",
            about: [
                """
                Print bash for a job script: 'ssh -f -N -R SOCKET:127.0.0.1:N $SLURM_SUBMIT_HOST', ending in a \
                Unix socket \
                in your private session directory on the login node (never a TCP port there, unless you ask with \
                --insecure-tcp-port), and ends the tunnel when the job ends.
                """
            ]
        ) { parsed, context in
            try runReverseTunnel(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Options", reverseOptions)]
        command.examples = [
            "hpcserve snippet reverse-tunnel --port 8888",
            "hpcserve snippet reverse-tunnel --port 6006 --socket /home/me/.tb/tb.sock",
        ]
        return command
    }()

    /// `snippet KIND …` from its words, without the dispatcher (for tests that run many at once).
    public static func run(_ words: [String], context: Context) throws -> ExitCode {
        guard let (_, path, parsed) = try Commands.resolve(command, path: ["snippet"], words, context: context) else {
            return .success
        }
        return path[1] == licenseCommand.name
            ? try runLicense(parsed, context: context) : try runReverseTunnel(parsed, context: context)
    }

    static func runLicense(_ parsed: ParsedArguments, context: Context) throws -> ExitCode {
        try noPositionals(parsed)
        context.output.stdout(try license(parsed))
        return .success
    }

    static func runReverseTunnel(_ parsed: ParsedArguments, context: Context) throws -> ExitCode {
        try noPositionals(parsed)
        let text = try reverseTunnel(parsed)
        if parsed.has("--insecure-tcp-port") {
            context.warn(
                "--insecure-tcp-port: every user on the login node can connect to that port; "
                    + "the default Unix socket in your private directory cannot be reached by them")
        }
        context.output.stdout(text)
        return .success
    }

    static func noPositionals(_ parsed: ParsedArguments) throws {
        if let extra = parsed.positionals.first { throw UsageError("unexpected argument \(Validate.show(extra))") }
        if parsed.passthrough != nil { throw UsageError("snippets take no '--' options") }
    }

    static func required(_ parsed: ParsedArguments, _ key: String, command: String) throws -> String {
        guard let v = parsed.value(key) else {
            throw UsageError("\(key) is required; see 'hpcserve snippet \(command) --help'")
        }
        return v
    }

    /// The license-forward snippet.
    public static func license(_ parsed: ParsedArguments) throws -> String {
        let gateway = try Validate.host(try required(parsed, "--gateway", command: "license"), option: "--gateway")
        let server = try Validate.host(try required(parsed, "--server", command: "license"), option: "--server")
        let port = try Validate.port(try required(parsed, "--port", command: "license"), option: "--port")
        let vendorPorts = try parsed.all("--vendor-port").map { try Validate.port($0, option: "--vendor-port") }
        var names = try parsed.all("--env").map { try Validate.licenseVariable($0) }
        if names.isEmpty { names = ["MLM_LICENSE_FILE"] }
        let range = try parsed.value("--port-range").map { try Validate.portRange($0, option: "--port-range") }
        let attempts =
            try parsed.value("--attempts").map { try Validate.integer($0, option: "--attempts", range: 1...100) } ?? 20
        let header = [
            "Forwards a free port on the compute node (random, never one in use) to \(server):\(port)",
            "through \(gateway), trying up to \(attempts) ports if another process takes one first, and",
            "exports \(names.joined(separator: ", ")) as PORT@localhost. Any process on the node can connect",
            "to that port (inherent to a TCP forward): a node of your own (--exclusive) avoids sharing it.",
            "Generated by hpcserve \(ScriptRenderer.version). Paste it before the program that needs the license.",
            "It sets EXIT/TERM traps that end the tunnel with the job; if your script sets its own",
            "EXIT trap afterwards, call hpcserve_tunnels_stop from it.",
        ]
        let values: [String: String] = [
            "HEADER": header.map { "# " + $0 }.joined(separator: "\n"),
            "GATEWAY": ShellQuote.quote(gateway),
            "SERVER": ShellQuote.quote(server),
            "PORT": String(port),
            "VENDOR_PORTS": vendorPorts.map(String.init).joined(separator: " "),
            "ATTEMPTS": String(attempts),
            "PORT_RANGE": range.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "''",
            "EXPORTS": names.map { "export \($0)=\"$hpcserve_license_local@localhost\"" }.joined(separator: "\n"),
        ]
        return try TemplateEngine.render("license.sh", values: values, source: TemplateSource())
    }

    /// What is at `--socket` now may be a stale socket (the job removes it if nothing listens
    /// on it) but nothing else: the job would fail on it, and it must never be removed.
    static func checkSocketPath(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }  // nothing there (or not visible here): the job checks again
        let mode = st.st_mode & S_IFMT
        guard mode != S_IFSOCK else { return }
        let kind =
            mode == S_IFREG
            ? "a regular file" : mode == S_IFDIR ? "a directory" : mode == S_IFLNK ? "a symbolic link" : "not a socket"
        throw UsageError(
            "--socket \(Validate.show(path)) is \(kind); the snippet replaces only a stale socket, so give "
                + "a path where nothing is, or move that away yourself"
        )
    }

    /// The reverse-tunnel snippet.
    public static func reverseTunnel(_ parsed: ParsedArguments) throws -> String {
        let port = try Validate.port(try required(parsed, "--port", command: "reverse-tunnel"), option: "--port")
        let host = try parsed.value("--host").map { try Validate.host($0, option: "--host") } ?? ""
        let tcpPort = try parsed.value("--insecure-tcp-port").map {
            try Validate.port($0, option: "--insecure-tcp-port")
        }
        let laptopPort =
            try parsed.value("--laptop-port").map { try Validate.port($0, option: "--laptop-port") } ?? 8888
        var socket = ""
        if let s = parsed.value("--socket") {
            if tcpPort != nil { throw UsageError("--socket and --insecure-tcp-port exclude each other; give one") }
            socket = try Validate.path(s, option: "--socket")
            guard socket.startsWith(scalars: "/") else {
                throw UsageError("--socket \(Validate.show(socket)) must be an absolute path")
            }
            guard !socket.contains(scalar: ":") else {
                throw UsageError("--socket path \(Validate.show(socket)) must not contain ':' (ssh's forward syntax)")
            }
            guard socket.utf8.count <= SessionPaths.socketPathLimit else {
                throw FileError.socketPathTooLong(path: socket, limit: SessionPaths.socketPathLimit)
            }
            try checkSocketPath(socket)
        }
        let header = [
            "Opens a reverse tunnel from this job to " + (host.isEmpty ? "$SLURM_SUBMIT_HOST" : host)
                + ", ending in "
                + (tcpPort.map { "TCP port \($0) (open to every user there!)" }
                    ?? "a Unix socket in your private 0700 directory") + ",",
            "to 127.0.0.1:\(port) on the compute node. Generated by hpcserve \(ScriptRenderer.version).",
            "Paste it after your server has started. It sets EXIT/TERM traps that end the tunnel",
            "with the job; if your script sets its own EXIT trap, call hpcserve_rt_stop from it.",
        ]
        let values: [String: String] = [
            "HEADER": header.map { "# " + $0 }.joined(separator: "\n"),
            "PORT": String(port),
            "HOST": ShellQuote.quote(host),
            "TCP_PORT": tcpPort.map(String.init) ?? "''",
            "SOCKET": ShellQuote.quote(socket),
            "LAPTOP_PORT": String(laptopPort),
        ]
        return try TemplateEngine.render("reverse-tunnel.sh", values: values, source: TemplateSource())
    }
}
